-- The A/B test (bench/queries/experiment.json) on ClickHouse: visitors with an exposure
-- to `sticky_cart` in the range, each in the variant of its first exposure (those exposed
-- to two variants apart, as `(mixed)`); per variant the visitors, and those that added to
-- cart and that purchased at or after their first exposure.
WITH x AS (
    SELECT visitor, min(ts) AS t0, argMin(JSONExtractString(props, 'variant'), ts) AS variant,
           uniqExact(JSONExtractString(props, 'variant')) AS nv
    FROM events
    WHERE site = '{site}' AND ts BETWEEN toDateTime64('{from_ts}', 3, 'UTC') AND toDateTime64('{to_ts}', 3, 'UTC')
      AND name = 'experiment_exposure'
      AND JSONExtractString(props, 'experiment') = 'sticky_cart'
      AND JSONHas(props, 'variant')
    GROUP BY visitor
)
SELECT variant, count(), countIf(cart), countIf(buy)
FROM
(
    SELECT x.visitor AS v, any(x.variant) AS variant,
           max(e.name = 'add_to_cart' AND e.ts >= x.t0) AS cart,
           max(e.name = 'purchase' AND e.ts >= x.t0) AS buy
    FROM x INNER JOIN events AS e ON e.visitor = x.visitor
    WHERE x.nv = 1 AND e.site = '{site}'
      AND e.ts BETWEEN toDateTime64('{from_ts}', 3, 'UTC') AND toDateTime64('{to_ts}', 3, 'UTC')
    GROUP BY x.visitor
)
GROUP BY variant
UNION ALL
SELECT '(mixed)', countIf(nv > 1), 0, 0 FROM x
