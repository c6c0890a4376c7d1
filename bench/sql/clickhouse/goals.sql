-- Goal report (bench/queries/goals.json) on ClickHouse. The table is ordered by (site,
-- visitor, ts), so one GROUP BY visitor gathers each visitor's events; they are sorted
-- by time in an array, cut into sessions (a gap of {gap_ms} ms or more starts a new one)
-- with arrayCumSum, and every goal is evaluated per session on the arrays. Each event
-- carries a bit mask of the conditions it meets:
--   1 purchase, 2 add_to_cart, 4 search, 8 begin_checkout with props.items >= 3 (a number),
--   16 pageview of /checkout*, 32 pageview, 64 view_item.
-- A visitor converts when one of its sessions does. Conversions are per session, except
-- Purchase (every event).
SELECT
    count() AS visitors,
    sum(ns) AS sessions,
    sum(purchase_n) AS purchase_conv, sum(purchase_s) AS purchase_sess,
    countIf(purchase_s > 0) AS purchase_vis, sum(purchase_v) AS purchase_value_micros,
    sum(add_to_cart_s) AS add_to_cart_conv, sum(add_to_cart_s) AS add_to_cart_sess,
    countIf(add_to_cart_s > 0) AS add_to_cart_vis,
    sum(searched_s) AS searched_conv, sum(searched_s) AS searched_sess,
    countIf(searched_s > 0) AS searched_vis,
    sum(big_basket_s) AS big_basket_conv, sum(big_basket_s) AS big_basket_sess,
    countIf(big_basket_s > 0) AS big_basket_vis,
    sum(checkout_page_s) AS checkout_page_conv, sum(checkout_page_s) AS checkout_page_sess,
    countIf(checkout_page_s > 0) AS checkout_page_vis,
    sum(stayed_2m_s) AS stayed_2m_conv, sum(stayed_2m_s) AS stayed_2m_sess,
    countIf(stayed_2m_s > 0) AS stayed_2m_vis,
    sum(pages_5_s) AS pages_5_conv, sum(pages_5_s) AS pages_5_sess,
    countIf(pages_5_s > 0) AS pages_5_vis,
    sum(viewed_3_s) AS viewed_3_conv, sum(viewed_3_s) AS viewed_3_sess,
    countIf(viewed_3_s > 0) AS viewed_3_vis
FROM
(
    SELECT
        purchase_n,
        purchase_v,
        arrayMap(x -> x.1, ev) AS t,
        arrayMap(x -> x.2, ev) AS c,
        arrayMap((x, i) -> toUInt32(i = 1 OR x - t[i - 1] >= {gap_ms}), t, arrayEnumerate(t)) AS st,
        arrayCumSum(st) AS sid,
        sid[-1] AS ns,
        arrayMap(i -> toUInt32(i = length(t) OR st[i + 1] = 1), arrayEnumerate(t)) AS en,
        length(arrayDistinct(arrayFilter((s, x) -> bitAnd(x, 1) != 0, sid, c))) AS purchase_s,
        length(arrayDistinct(arrayFilter((s, x) -> bitAnd(x, 2) != 0, sid, c))) AS add_to_cart_s,
        length(arrayDistinct(arrayFilter((s, x) -> bitAnd(x, 4) != 0, sid, c))) AS searched_s,
        length(arrayDistinct(arrayFilter((s, x) -> bitAnd(x, 8) != 0, sid, c))) AS big_basket_s,
        length(arrayDistinct(arrayFilter((s, x) -> bitAnd(x, 16) != 0, sid, c))) AS checkout_page_s,
        arrayCount((a, b) -> b - a >= 120000, arrayFilter((x, f) -> f = 1, t, st), arrayFilter((x, f) -> f = 1, t, en)) AS stayed_2m_s,
        -- session ids of the pageviews (ascending): a session has 5 when an entry equals
        -- the one 4 places before it; count each session once, at its 5th pageview.
        arrayFilter((s, x) -> bitAnd(x, 32) != 0, sid, c) AS pv,
        arrayCount((x, i) -> i >= 5 AND pv[i - 4] = x AND (i = 5 OR pv[i - 5] != x), pv, arrayEnumerate(pv)) AS pages_5_s,
        arrayFilter((s, x) -> bitAnd(x, 64) != 0, sid, c) AS vi,
        arrayCount((x, i) -> i >= 3 AND vi[i - 2] = x AND (i = 3 OR vi[i - 3] != x), vi, arrayEnumerate(vi)) AS viewed_3_s
    FROM
    (
        SELECT
            visitor,
            arraySort(groupArray((
                toUnixTimestamp64Milli(ts),
                toUInt8((name = 'purchase')
                    + 2 * (name = 'add_to_cart')
                    + 4 * (name = 'search')
                    + 8 * (name = 'begin_checkout'
                           AND JSONType(props, 'items') IN ('Int64', 'UInt64', 'Double')
                           AND JSONExtractFloat(props, 'items') >= 3)
                    + 16 * (name = 'pageview' AND startsWith(path, '/checkout'))
                    + 32 * (name = 'pageview')
                    + 64 * (name = 'view_item'))
            ))) AS ev,
            countIf(name = 'purchase') AS purchase_n,
            sumIf(toInt64(round(revenue_amount * 1000000)), name = 'purchase') AS purchase_v
        FROM events
        WHERE site = '{site}' AND ts BETWEEN toDateTime64('{from_ts}', 3, 'UTC') AND toDateTime64('{to_ts}', 3, 'UTC')
        GROUP BY visitor
    )
)
