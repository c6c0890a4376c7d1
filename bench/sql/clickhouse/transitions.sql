-- Page transitions (bench/queries/transitions.json) on ClickHouse: every pair of
-- consecutive pages in a session, and each session's last page → the exit; top 50 by
-- count. As in goals.sql, one GROUP BY visitor (the table's order) gathers a visitor's
-- events, sorted by time in an array and cut into sessions (a gap of {gap_ms} ms or more
-- starts a new one) with arrayCumSum. Only pageviews are nodes, as their page group:
-- the path's first segment (the rule `^(?P<s>/[^/]*)` → `{{s}}`: /a/b → /a, / → /; a
-- path not starting with / matches no rule and is its own page). Immediate repeats
-- collapse (A A B → A B), so each run of equal pages in a session gives one pair: from
-- its last pageview to the next pageview's page, or to the exit (`to` NULL) when the
-- session has no further pageview. `total` is every pair (= the collapsed nodes),
-- before the LIMIT.
SELECT pair.1 AS `from`, if(pair.2 = 1, NULL, pair.3) AS `to`, count() AS count,
       sum(count()) OVER () AS total
FROM
(
    SELECT
        arrayMap(x -> x.1, ev) AS t,
        arrayCumSum(arrayMap((x, i) -> toUInt32(i = 1 OR x - t[i - 1] >= {gap_ms}), t, arrayEnumerate(t))) AS sid,
        -- the pageviews: their session ids and pages, in time order
        arrayFilter((s, x) -> x.2 = 1, sid, ev) AS ps,
        arrayMap(x -> x.3, arrayFilter(x -> x.2 = 1, ev)) AS pn,
        length(pn) AS n,
        -- the last pageview of each run of equal pages in a session: (from, exit?, to)
        arrayFilter(
            (p, i) -> i = n OR ps[i + 1] != ps[i] OR pn[i + 1] != pn[i],
            arrayMap((x, i) -> (x, toUInt8(i = n OR ps[i + 1] != ps[i]), pn[i + 1]), pn, arrayEnumerate(pn)),
            arrayEnumerate(pn)) AS pairs
    FROM
    (
        SELECT
            visitor,
            arraySort(groupArray((
                toUnixTimestamp64Milli(ts),
                toUInt8(name = 'pageview'),
                if(name = 'pageview',
                   if(startsWith(path, '/'), concat('/', splitByChar('/', path)[2]), path),
                   '')
            ))) AS ev
        FROM events
        WHERE site = '{site}' AND ts BETWEEN toDateTime64('{from_ts}', 3, 'UTC') AND toDateTime64('{to_ts}', 3, 'UTC')
        GROUP BY visitor
    )
)
ARRAY JOIN pairs AS pair
GROUP BY `from`, `to`
ORDER BY count DESC, `from`, ifNull(`to`, '(exit)')
LIMIT 50
