-- Ordered 4-step funnel per visitor, window {window_ms} ms from step 1 (inclusive), other
-- events allowed between steps, equal timestamps allowed (ts(e1) <= ts(e2) <= ...).
-- For every step-1 event the earliest possible chain is found with ASOF joins (the
-- earliest step-j event at or after step j-1); a visitor's level is its best start's.
-- The steps' event names differ, so one event never fills two steps.
WITH e AS (
    SELECT visitor, epoch_ms(ts) AS t, name
    FROM events
    WHERE site = '{site}' AND ts BETWEEN TIMESTAMP '{from_ts}' AND TIMESTAMP '{to_ts}'
      AND name IN ('pageview', 'add_to_cart', 'begin_checkout', 'purchase')
),
s1 AS (SELECT visitor, t FROM e WHERE name = 'pageview'),
s2 AS (SELECT visitor, t FROM e WHERE name = 'add_to_cart'),
s3 AS (SELECT visitor, t FROM e WHERE name = 'begin_checkout'),
s4 AS (SELECT visitor, t FROM e WHERE name = 'purchase'),
c2 AS (
    SELECT s1.visitor, s1.t AS t1, s2.t AS t2
    FROM s1 ASOF LEFT JOIN s2 ON s1.visitor = s2.visitor AND s2.t >= s1.t
),
c3 AS (
    SELECT c2.*, s3.t AS t3
    FROM c2 ASOF LEFT JOIN s3 ON c2.visitor = s3.visitor AND s3.t >= c2.t2
),
c4 AS (
    SELECT c3.*, s4.t AS t4
    FROM c3 ASOF LEFT JOIN s4 ON c3.visitor = s4.visitor AND s4.t >= c3.t3
),
levels AS (
    SELECT visitor,
           max(CASE WHEN t4 - t1 <= {window_ms} THEN 4
                    WHEN t3 - t1 <= {window_ms} THEN 3
                    WHEN t2 - t1 <= {window_ms} THEN 2
                    ELSE 1 END) AS level
    FROM c4
    GROUP BY visitor
)
SELECT level, count(*) AS units
FROM levels
GROUP BY level
ORDER BY level
