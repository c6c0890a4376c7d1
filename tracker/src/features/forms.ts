// Forms: form_start, form_field, form_submit and, at page leave, form_abandon. Only
// names of forms and fields are read, never a value. Search forms are left out (site
// search is the search feature's): a form with role=search or inside an element with
// it (or <search>), one with an <input type=search>, or a GET form with a field named
// like a search parameter (data-search-params).
import { D, feature, leaveHooks, listen, pageHooks, track } from "../api";
import { searchParams } from "./params";

/** Per form of the current page view: started, submitted, the last focused field. */
type State = { s?: 1; d?: 1; f: string };
let forms: { [id: string]: State } = {};

const SKIP = /^(hidden|submit|button|reset|image)$/;

feature("forms", (tag) => {
  /** The search parameters' names. */
  const params = searchParams(tag);
  /** The form's id and state, or null for a search form. */
  const state = (f: HTMLFormElement): [string, State] | null => {
    if (
      f.closest("[role=search],search") ||
      f.querySelector("input[type=search]") ||
      (f.method == "get" && Array.from(f.elements).some((el: any) => params.indexOf(el.name) >= 0))
    )
      return null;
    const id = f.getAttribute("id") || f.getAttribute("name") || "form-" + Array.from(D.forms).indexOf(f);
    return [id, forms[id] || (forms[id] = { f: "" })];
  };
  pageHooks.push(() => (forms = {}));
  const touch = (e: Event) => {
    const el = e.target as HTMLInputElement;
    const f = el && (el.form || (el.closest && el.closest("form")));
    const st = f && state(f);
    if (!st) return;
    const [form_id, s] = st;
    if (!s.s) {
      s.s = 1;
      track("form_start", { form_id });
    }
    const field = el.getAttribute("name") || el.id;
    if (e.type == "focusin" && field && !SKIP.test(el.type) && field != s.f) {
      s.f = field;
      track("form_field", { form_id, field });
    }
  };
  listen(D, "focusin", touch, true);
  listen(D, "input", touch, true);
  listen(
    D,
    "submit",
    (e: Event) => {
      const st = state(e.target as HTMLFormElement);
      if (!st) return;
      st[1].d = 1;
      track("form_submit", { form_id: st[0] });
    },
    true,
  );
  leaveHooks.push((url) => {
    for (const form_id in forms) {
      const s = forms[form_id];
      if (s.s && !s.d) track("form_abandon", { form_id, field: s.f }, { url });
    }
  });
});
