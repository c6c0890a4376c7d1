-- Micro → purchase lift (bench/queries/influence.json) on ClickHouse: per visitor with an
-- event in the range (the table is ordered by (site, visitor, ts)), whether it purchased
-- and whether it did each candidate at all (`"order": "any"`: the raw comparison,
-- without precedence); per candidate the 2×2 table: visitors with it (and of them,
-- purchasers) and without it (and purchasers).
SELECT c.1, countIf(c.2), countIf(c.2 AND y), countIf(NOT c.2), countIf(NOT c.2 AND y)
FROM
(
    SELECT
        max(name = 'purchase') AS y,
        [('Searched', max(name = 'search')),
         ('Wishlist', max(name = 'add_to_wishlist')),
         ('Add to cart', max(name = 'add_to_cart'))] AS cands
    FROM events
    WHERE site = '{site}' AND ts BETWEEN toDateTime64('{from_ts}', 3, 'UTC') AND toDateTime64('{to_ts}', 3, 'UTC')
    GROUP BY visitor
)
ARRAY JOIN cands AS c
GROUP BY c.1
ORDER BY c.1
