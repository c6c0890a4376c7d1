-- Page transitions (bench/queries/transitions.json) on DuckDB: every pair of consecutive
-- pages in a session, and each session's last page → the exit; top 50 by count.
-- Only pageviews are nodes, as their page group: the path's first segment (the rule
-- `^(?P<s>/[^/]*)` → `{{s}}`: /a/b → /a, / → /; a path not starting with / matches no
-- rule and is its own page). Sessions are cut from all of a visitor's events in the
-- range, as in goals.sql: a gap of {gap_ms} ms or more to the next event ends one.
-- Immediate repeats collapse (A A B → A B), so each run of equal pages in a session gives
-- one pair: from its last pageview to the next pageview's page, or to the exit (`to`
-- NULL) when the session ends before the next pageview. Two passes over each visitor's
-- events in time order: the gap to the next event (lead), then for every event the end of
-- its session (the first event from it on whose gap ends a session) and the next
-- pageview (first_value … IGNORE NULLS over the following rows). `total` is every pair
-- (= the pages after collapsing), before the LIMIT.
WITH ev AS (
    SELECT visitor, epoch_ms(ts) AS t,
           CASE WHEN name = 'pageview' THEN
               CASE WHEN starts_with(path, '/') THEN '/' || split_part(path, '/', 2)
                    ELSE coalesce(path, '') END
           END AS node
    FROM events
    WHERE site = '{site}' AND ts BETWEEN TIMESTAMP '{from_ts}' AND TIMESTAMP '{to_ts}'
),
gaps AS (
    SELECT *, lead(t) OVER (PARTITION BY visitor ORDER BY t) - t AS gap_after
    FROM ev
),
nxt AS (
    SELECT node,
           first_value(CASE WHEN gap_after IS NULL OR gap_after >= {gap_ms} THEN t END IGNORE NULLS)
               OVER (PARTITION BY visitor ORDER BY t ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS session_end,
           first_value(CASE WHEN node IS NOT NULL THEN t END IGNORE NULLS)
               OVER (PARTITION BY visitor ORDER BY t ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_t,
           first_value(node IGNORE NULLS)
               OVER (PARTITION BY visitor ORDER BY t ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_node
    FROM gaps
),
pairs AS (
    SELECT node AS "from", CASE WHEN next_t <= session_end THEN next_node END AS "to"
    FROM nxt
    WHERE node IS NOT NULL AND (next_t IS NULL OR next_t > session_end OR next_node <> node)
)
SELECT "from", "to", count(*) AS count, sum(count(*)) OVER () AS total
FROM pairs
GROUP BY "from", "to"
ORDER BY count DESC, "from", coalesce("to", '(exit)')
LIMIT 50
