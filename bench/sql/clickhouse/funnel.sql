-- Ordered 4-step funnel per visitor with windowFunnel: window {window_ms} ms from step 1,
-- inclusive; 'strict_once' (an event fills at most one step), which FUNNELS.md names as
-- equal to Cairn's ordered funnel. Timestamps in milliseconds, so the window is too.
SELECT level, count() AS units
FROM
(
    SELECT
        visitor,
        windowFunnel({window_ms}, 'strict_once')(
            toUInt64(toUnixTimestamp64Milli(ts)),
            name = 'pageview', name = 'add_to_cart', name = 'begin_checkout', name = 'purchase') AS level
    FROM events
    WHERE site = '{site}' AND ts BETWEEN toDateTime64('{from_ts}', 3, 'UTC') AND toDateTime64('{to_ts}', 3, 'UTC')
      AND name IN ('pageview', 'add_to_cart', 'begin_checkout', 'purchase')
    GROUP BY visitor
)
WHERE level > 0
GROUP BY level
ORDER BY level
