-- The funnel of funnel.sql broken down by {dim}, first touch: the earliest non-empty
-- value among the visitor's step events ('' is how the table stores a missing value).
SELECT if(value = '', '(none)', value) AS value, level, count() AS units
FROM
(
    SELECT
        visitor,
        windowFunnel({window_ms}, 'strict_once')(
            toUInt64(toUnixTimestamp64Milli(ts)),
            name = 'pageview', name = 'add_to_cart', name = 'begin_checkout', name = 'purchase') AS level,
        argMinIf({dim}, ts, {dim} != '') AS value
    FROM events
    WHERE site = '{site}' AND ts BETWEEN toDateTime64('{from_ts}', 3, 'UTC') AND toDateTime64('{to_ts}', 3, 'UTC')
      AND name IN ('pageview', 'add_to_cart', 'begin_checkout', 'purchase')
    GROUP BY visitor
)
WHERE level > 0
GROUP BY value, level
ORDER BY value, level
