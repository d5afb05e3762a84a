-- FOCUS 1.2 Cost and Usage: one row per allocated piece of a charge. 1.2 has no allocation columns (nor 1.3's
-- ServiceProviderName / HostProviderName), so the attribution goes into Tags (keys apportion/…) and x_ columns.
-- Rows in focus_pieces' order (by charge and piece): the connection preserves insertion order
-- reads: focus_pieces
-- params: none
-- output: the FOCUS 1.2 rows of the day
select
    * exclude (
        AllocatedMethodDetails, AllocatedMethodId, AllocatedResourceId, AllocatedResourceName, AllocatedTags,
        HostProviderName, ServiceProviderName, attribution
    ) replace (attribution.tags as Tags),
    attribution.team as x_Team,
    attribution.feature as x_Feature,
    attribution.customer as x_CustomerId,
    attribution.agent as x_AgentId,
    attribution.workflow as x_WorkflowId,
    attribution.rule as x_AllocatedMethodId,
    attribution.ratio as x_AllocatedRatio,
    attribution.unallocated_reason as x_UnallocatedReason
from focus_pieces
