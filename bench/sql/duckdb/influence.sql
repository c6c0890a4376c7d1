-- Micro → purchase lift (bench/queries/influence.json) on DuckDB: per visitor with an
-- event in the range, whether it purchased and whether it did each candidate at all
-- (`"order": "any"`: the raw comparison, without precedence); per candidate the 2×2
-- table: visitors with it (and of them, purchasers) and without it (and purchasers).
WITH v AS (
    SELECT visitor,
           bool_or(name = 'purchase') AS y,
           bool_or(name = 'search') AS searched,
           bool_or(name = 'add_to_wishlist') AS wishlist,
           bool_or(name = 'add_to_cart') AS cart
    FROM events
    WHERE site = '{site}' AND ts BETWEEN TIMESTAMP '{from_ts}' AND TIMESTAMP '{to_ts}'
    GROUP BY visitor
)
SELECT 'Searched', count(*) FILTER (WHERE searched), count(*) FILTER (WHERE searched AND y),
       count(*) FILTER (WHERE NOT searched), count(*) FILTER (WHERE NOT searched AND y) FROM v
UNION ALL
SELECT 'Wishlist', count(*) FILTER (WHERE wishlist), count(*) FILTER (WHERE wishlist AND y),
       count(*) FILTER (WHERE NOT wishlist), count(*) FILTER (WHERE NOT wishlist AND y) FROM v
UNION ALL
SELECT 'Add to cart', count(*) FILTER (WHERE cart), count(*) FILTER (WHERE cart AND y),
       count(*) FILTER (WHERE NOT cart), count(*) FILTER (WHERE NOT cart AND y) FROM v
