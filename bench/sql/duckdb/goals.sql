-- Goal report (bench/queries/goals.json) on DuckDB: sessions are a visitor's events with
-- gaps under {gap_ms} ms (a gap of exactly that much starts a new one), cut from the
-- events in the range; event and destination goals convert in a session when one of its
-- events matches; duration, pages and count goals are per session; a visitor converts
-- when one of its sessions does. Conversions are per session, except Purchase (every
-- event). The default RANGE frame of the running sum keeps tied timestamps together.
WITH ev AS (
    SELECT visitor, epoch_ms(ts) AS t, name, path, props, revenue_amount
    FROM events
    WHERE site = '{site}' AND ts BETWEEN TIMESTAMP '{from_ts}' AND TIMESTAMP '{to_ts}'
),
marked AS (
    SELECT *,
           CASE WHEN t - lag(t) OVER (PARTITION BY visitor ORDER BY t) < {gap_ms} THEN 0 ELSE 1 END AS starts
    FROM ev
),
numbered AS (
    SELECT *, sum(starts) OVER (PARTITION BY visitor ORDER BY t) AS sid
    FROM marked
),
sessions AS (
    SELECT visitor, sid,
           count(*) FILTER (WHERE name = 'purchase') AS purchase_n,
           sum(CAST(round(revenue_amount * 1000000) AS BIGINT)) FILTER (WHERE name = 'purchase') AS purchase_v,
           bool_or(name = 'add_to_cart') AS add_to_cart,
           bool_or(name = 'search') AS searched,
           bool_or(name = 'begin_checkout'
                   AND json_type(props, '$.items') IN ('UBIGINT', 'BIGINT', 'DOUBLE')
                   AND CAST(json_extract(props, '$.items') AS DOUBLE) >= 3) AS big_basket,
           bool_or(name = 'pageview' AND starts_with(path, '/checkout')) AS checkout_page,
           max(t) - min(t) >= 120000 AS stayed_2m,
           count(*) FILTER (WHERE name = 'pageview') >= 5 AS pages_5,
           count(*) FILTER (WHERE name = 'view_item') >= 3 AS viewed_3
    FROM numbered
    GROUP BY visitor, sid
),
visitors AS (
    SELECT visitor,
           count(*) AS sessions,
           sum(purchase_n) AS purchase_n,
           sum(purchase_v) AS purchase_v,
           count(*) FILTER (WHERE purchase_n > 0) AS purchase_s,
           count(*) FILTER (WHERE add_to_cart) AS add_to_cart_s,
           count(*) FILTER (WHERE searched) AS searched_s,
           count(*) FILTER (WHERE big_basket) AS big_basket_s,
           count(*) FILTER (WHERE checkout_page) AS checkout_page_s,
           count(*) FILTER (WHERE stayed_2m) AS stayed_2m_s,
           count(*) FILTER (WHERE pages_5) AS pages_5_s,
           count(*) FILTER (WHERE viewed_3) AS viewed_3_s
    FROM sessions
    GROUP BY visitor
)
SELECT count(*) AS visitors,
       sum(sessions) AS sessions,
       sum(purchase_n) AS purchase_conv, sum(purchase_s) AS purchase_sess,
       count(*) FILTER (WHERE purchase_s > 0) AS purchase_vis, sum(purchase_v) AS purchase_value_micros,
       sum(add_to_cart_s) AS add_to_cart_conv, sum(add_to_cart_s) AS add_to_cart_sess,
       count(*) FILTER (WHERE add_to_cart_s > 0) AS add_to_cart_vis,
       sum(searched_s) AS searched_conv, sum(searched_s) AS searched_sess,
       count(*) FILTER (WHERE searched_s > 0) AS searched_vis,
       sum(big_basket_s) AS big_basket_conv, sum(big_basket_s) AS big_basket_sess,
       count(*) FILTER (WHERE big_basket_s > 0) AS big_basket_vis,
       sum(checkout_page_s) AS checkout_page_conv, sum(checkout_page_s) AS checkout_page_sess,
       count(*) FILTER (WHERE checkout_page_s > 0) AS checkout_page_vis,
       sum(stayed_2m_s) AS stayed_2m_conv, sum(stayed_2m_s) AS stayed_2m_sess,
       count(*) FILTER (WHERE stayed_2m_s > 0) AS stayed_2m_vis,
       sum(pages_5_s) AS pages_5_conv, sum(pages_5_s) AS pages_5_sess,
       count(*) FILTER (WHERE pages_5_s > 0) AS pages_5_vis,
       sum(viewed_3_s) AS viewed_3_conv, sum(viewed_3_s) AS viewed_3_sess,
       count(*) FILTER (WHERE viewed_3_s > 0) AS viewed_3_vis
FROM visitors
