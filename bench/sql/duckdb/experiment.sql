-- The A/B test (bench/queries/experiment.json) on DuckDB: visitors with an exposure to
-- `sticky_cart` in the range, each in the variant of its first exposure (those exposed to
-- two variants apart, as `(mixed)`); per variant the visitors, and those that added to
-- cart and that purchased at or after their first exposure.
WITH x AS (
    SELECT visitor, ts, json_extract_string(props, '$.variant') AS variant
    FROM events
    WHERE site = '{site}' AND ts BETWEEN TIMESTAMP '{from_ts}' AND TIMESTAMP '{to_ts}'
      AND name = 'experiment_exposure'
      AND json_extract_string(props, '$.experiment') = 'sticky_cart'
      AND json_extract_string(props, '$.variant') IS NOT NULL
), u AS (
    SELECT visitor, min(ts) AS t0, arg_min(variant, ts) AS variant,
           count(DISTINCT variant) AS nv
    FROM x
    GROUP BY visitor
), c AS (
    SELECT u.visitor, any_value(u.variant) AS variant,
           bool_or(e.name = 'add_to_cart' AND e.ts >= u.t0) AS cart,
           bool_or(e.name = 'purchase' AND e.ts >= u.t0) AS buy
    FROM u JOIN events e ON e.visitor = u.visitor
    WHERE u.nv = 1 AND e.site = '{site}'
      AND e.ts BETWEEN TIMESTAMP '{from_ts}' AND TIMESTAMP '{to_ts}'
    GROUP BY u.visitor
)
SELECT variant, count(*), count(*) FILTER (WHERE cart), count(*) FILTER (WHERE buy)
FROM c GROUP BY variant
UNION ALL
SELECT '(mixed)', count(*) FILTER (WHERE nv > 1), 0, 0 FROM u
