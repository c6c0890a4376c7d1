// Forms & checkout: the forms report, the checkout's step drop-off and cart abandonment.
import { query } from "./api";
import type { Ctx } from "./main";
import { spec } from "./state";
import { ci, clear, dur, errorBox, h, num, pct, table, timeStats } from "./ui";

/** A share with a bar behind it. */
function bar(part: number, whole: number): HTMLElement | string {
  if (!whole) return "–";
  const x = part / whole;
  return h("span", { class: "share-bar", style: `--share: ${(x * 100).toFixed(1)}%` }, pct(x));
}

export async function renderForms(ctx: Ctx, main: HTMLElement): Promise<void> {
  const s = ctx.state;
  const cart = h("div", { id: "cart" }, h("p", { class: "muted" }, "Loading…"));
  const checkout = h("div", { id: "checkout" });
  const forms = h("div", { id: "forms" });
  clear(main, h("h1", {}, "Forms & checkout"), cart, checkout, forms);
  const guard = <T>(el: HTMLElement, p: Promise<T>, f: (r: T) => void): Promise<void> =>
    p.then((r) => void (ctx.current() && f(r))).catch((e) => void (ctx.current() && clear(el, errorBox(e))));
  // A block with nothing to show says how its data arrives, rather than zeros (issue 19,
  // item 6).
  const empty = (title: string, id: string, text: string): HTMLElement[] =>
    [h("h2", {}, title), h("p", { class: "card empty", id }, text)];
  await Promise.all([
    guard(cart, query(spec(s, { type: "cart_abandonment" })), (r) => {
      if (r.carts === 0) {
        clear(cart, ...empty("Cart abandonment", "cart-empty", "No carts in this range. Cart abandonment counts sessions with an add_to_cart event and whether a purchase followed: send both (cairn.track(\"add_to_cart\"), cairn.track(\"purchase\", {revenue})) from your shop, or through the batch API."));
        return;
      }
      const fig = (label: string, v: string, sub?: string): HTMLElement =>
        h("div", { class: "kpi card" }, h("span", { class: "kpi-label" }, label), h("span", { class: "kpi-value" }, v), sub ? h("span", { class: "kpi-sub" }, sub) : null);
      clear(cart, h("h2", {}, "Cart abandonment"), h("section", { class: "kpis" },
        fig("Carts", num(r.carts)),
        fig("Purchased", num(r.purchased)),
        fig("Abandoned", num(r.abandoned), `${pct(r.abandonment.rate)} (${ci(r.abandonment)})`),
        fig("Recovered", num(r.recovered), `${pct(r.recovery.rate)} of abandoned`),
        fig("Time to recover", r.time_to_recover?.count ? dur(r.time_to_recover.median_ms) : "–", "median"),
      ));
    }),
    guard(checkout, query(spec(s, { type: "checkout" })), (r) => {
      if ((r.steps[0]?.count ?? 0) === 0) {
        clear(checkout, ...empty("Checkout drop-off", "checkout-empty", "No checkouts in this range. The checkout report follows a begin_checkout event through checkout_step events (with a numeric step property) to purchase."));
        return;
      }
      clear(checkout, table("Checkout drop-off", [
        { label: "Step", cell: (x) => x.label },
        { label: "Sessions", cell: (x) => num(x.count), csv: (x) => x.count, num: true },
        { label: "From previous", cell: (x) => pct(x.from_previous.rate, 2), csv: (x) => x.from_previous.rate, num: true },
        { label: "Dropped", cell: (x) => `${num(x.dropped)} (${pct(x.drop_off)})`, csv: (x) => x.dropped, num: true },
        { label: "From start", cell: (x) => pct(x.from_start.rate, 2), csv: (x) => x.from_start.rate, num: true },
        { label: "Time from previous", cell: (x) => timeStats(x.time_from_previous), csv: (x) => x.time_from_previous?.median_ms ?? "" },
      ], r.steps, { id: "checkout-table" }));
    }),
    guard(forms, query(spec(s, { type: "forms", limit: 20 })), (r) => {
      if (r.forms.length === 0) {
        clear(forms, ...empty("Forms", "forms-empty", "No form starts in this range. The tracker reports forms on its own (form_start, each field touched, form_submit; never the values): load /cairn.js on the pages with forms."));
        return;
      }
      clear(forms,
        table("Forms", [
          { label: "Form", cell: (x) => x.form },
          { label: "Starts", cell: (x) => num(x.starts), csv: (x) => x.starts, num: true },
          { label: "Submissions", cell: (x) => num(x.submissions), csv: (x) => x.submissions, num: true },
          { label: "Submission rate", cell: (x) => pct(x.submission_rate.rate), csv: (x) => x.submission_rate.rate, num: true },
          { label: "Abandonment", cell: (x) => pct(x.abandonment.rate), csv: (x) => x.abandonment.rate, num: true },
          { label: "Time to submit", cell: (x) => timeStats(x.time_to_submit), csv: (x) => x.time_to_submit?.median_ms ?? "" },
        ], r.forms, { id: "forms-table" }),
        r.forms.map((f) => table(`Fields of ${f.form}`, [
          { label: "Field", cell: (x) => x.field },
          { label: "Touched", cell: (x) => num(x.touched), csv: (x) => x.touched, num: true },
          { label: "Of starts", cell: (x) => bar(x.touched, f.starts), csv: (x) => (f.starts ? x.touched / f.starts : 0), num: true },
          { label: "Last before abandoning", cell: (x) => num(x.last_before_abandon), csv: (x) => x.last_before_abandon, num: true },
          { label: "Of abandoned", cell: (x) => bar(x.last_before_abandon, f.starts - f.submissions), csv: (x) => (f.starts > f.submissions ? x.last_before_abandon / (f.starts - f.submissions) : 0), num: true },
          { label: "Time in field", cell: (x) => timeStats(x.time), csv: (x) => x.time?.median_ms ?? "" },
        ], f.fields, { file: `form-${f.form}-fields` })),
      );
    }),
  ]);
}
