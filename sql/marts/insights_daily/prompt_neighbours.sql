-- prompt_neighbours (temp table): pairs of distinct prompts on the same model whose SimHashes are at most
-- `max_distance` bits apart, the first sent on $day, the second on $day or in `prompt_history` (the prompts of the
-- days within the cache TTL before it, from their daily aggregates): a cache can only serve a near duplicate from
-- that window, so the candidate join stays the size of a few days of prompts, whatever the history. Banding (LSH):
-- the 64 bits are cut into blocks and each band (`masks`) keeps `blocks - max_distance` of them, so a pair within
-- `max_distance` bits agrees on every bit of at least one band (pigeonhole); pairs are joined on equal bands and
-- `bit_count(a xor b)` decides.
-- reads: priced_usage, prompt_history
-- params: $day, $masks, $max_distance
-- output: temp table prompt_neighbours (provider, model, prompt_hash, neighbour)
create or replace temp table prompt_neighbours as

with window_prompts as (
    select
        provider,
        model,
        prompt_hash,
        min(simhash) as simhash,
        bool_or(on_day) as on_day
    from (
        select
            provider,
            model,
            prompt_hash,
            prompt_simhash as simhash,
            true as on_day
        from priced_usage
        where event_date = $day
            and prompt_hash is not null
            and prompt_simhash is not null
            and operation is distinct from 'vector_query'
        union all
        select
            provider,
            model,
            prompt_hash,
            simhash,
            false as on_day
        from prompt_history
        where simhash is not null
    )
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
