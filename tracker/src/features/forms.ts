// Forms: form_start, form_field, form_submit and, at page leave, form_abandon. Only
// names of forms and fields are read, never a value.
import { D, leaveHooks, listen, pageHooks, track } from "../core";

/** Per form of the current page view: started, submitted, the last focused field. */
type State = { s?: 1; d?: 1; f: string };
let forms: { [id: string]: State } = {};

const SKIP = /^(hidden|submit|button|reset|image)$/;

function state(f: HTMLFormElement): [string, State] {
  const id = f.getAttribute("id") || f.getAttribute("name") || "form-" + Array.from(D.forms).indexOf(f);
  return [id, forms[id] || (forms[id] = { f: "" })];
}

export function formsFeature(): void {
  pageHooks.push(() => (forms = {}));
  const touch = (e: Event) => {
    const el = e.target as HTMLInputElement;
    const f = el && (el.form || (el.closest && el.closest("form")));
    if (!f) return;
    const [form_id, s] = state(f);
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
      const [form_id, s] = state(e.target as HTMLFormElement);
      s.d = 1;
      track("form_submit", { form_id });
    },
    true,
  );
  leaveHooks.push((url) => {
    for (const form_id in forms) {
      const s = forms[form_id];
      if (s.s && !s.d) track("form_abandon", { form_id, field: s.f }, { url });
    }
  });
}
