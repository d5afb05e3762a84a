-- prompt_neighbours (temp table, appended one day at a time): pairs of distinct prompts on the same model whose
-- SimHashes are at most `max_distance` bits apart, the first sent on $day, the second between $window_start (the
-- cache TTL before) and $day: a cache can only serve a near duplicate from that window, so each day's candidate
-- join stays the size of a few days of prompts. Candidates share the masked bits of one block combination
-- (`masks`, pigeonhole); `bit_count(a xor b)` decides.
-- reads: priced_usage, prompt_neighbours
-- params: $day, $masks, $max_distance, $window_start
-- output: rows appended to prompt_neighbours: the pairs of prompts first sent on $day
insert into prompt_neighbours

with window_prompts as (
    select
        provider,
        model,
        prompt_hash,
        min(prompt_simhash) as simhash,
        bool_or(event_date = $day) as on_day
    from priced_usage
    where event_date between $window_start and $day
        and prompt_hash is not null
        and prompt_simhash is not null
        and operation is distinct from 'vector_query'
    group by provider, model, prompt_hash
),

numbered as (
    -- integers, not hashes, travel through the candidate join
    select
        *,
        row_number() over (order by provider, model, prompt_hash) as prompt_id,
        dense_rank() over (order by provider, model) as model_id
    from window_prompts
),

keyed as (
    select
        n.prompt_id,
        n.model_id,
        n.simhash,
        n.on_day,
        m.mask,
        n.simhash & m.mask as masked
    from numbered n
    cross join (select unnest($masks::ubigint[]) as mask) m
),

pairs as (
    select distinct
        a.prompt_id,
        b.prompt_id as neighbour_id
    from keyed a
    inner join keyed b
        on a.model_id = b.model_id
        and a.mask = b.mask
        and a.masked = b.masked
        and a.prompt_id <> b.prompt_id
    where a.on_day
        and bit_count(xor(a.simhash, b.simhash)) <= $max_distance
)

select
    a.provider,
    a.model,
    a.prompt_hash,
    b.prompt_hash as neighbour
from pairs p
inner join numbered a
    on p.prompt_id = a.prompt_id
inner join numbered b
    on p.neighbour_id = b.prompt_id
