-- FOCUS 1.3 Cost and Usage: one row per allocated charge (a piece of an origin charge), apportion's allocation in
-- the split cost allocation columns (AllocatedMethodId, AllocatedMethodDetails, AllocatedResourceId/Name,
-- AllocatedTags); project columns after the FOCUS columns, prefixed x_. Rows in focus_pieces' order (by charge and
-- piece): the connection preserves insertion order
-- reads: focus_pieces
-- params: none
-- output: the FOCUS 1.3 rows of the day
select * exclude (attribution)
from focus_pieces
