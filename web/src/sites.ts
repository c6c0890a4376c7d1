// Adding a site (superusers): a domain and a time zone, POST /api/v1/sites; the server's
// refusal (a bad domain or zone: 422, a site already there: 409) shown at its field.
import { api, type Site } from "./api";
import { h } from "./ui";

/** The form; `added` gets the new site's domain. */
export function siteForm(added: (site: string) => void, cancel?: () => void): HTMLFormElement {
  const zones = (Intl as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.("timeZone") ?? [];
  const field = (id: string, label: string, input: HTMLInputElement, help: string) => {
    const err = h("p", { class: "error", id: `${id}-error`, role: "alert", hidden: true });
    input.setAttribute("aria-describedby", `${id}-help ${id}-error`);
    return { err, input, el: h("div", { class: "field" }, h("label", { for: id }, label), input, h("small", { class: "muted", id: `${id}-help` }, help), err) };
  };
  const domain = field("new-site-domain", "Domain", h("input", { id: "new-site-domain", required: true, placeholder: "example.com", autocomplete: "off", autocapitalize: "none", spellcheck: "false" }),
    "As in the snippet's data-site: the host, no https:// or path.");
  const tz = field("new-site-timezone", "Time zone (IANA)", h("input", { id: "new-site-timezone", required: true, list: "zones", value: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" }),
    "Days and hours of the reports are in it.");
  const submit = h("button", { type: "submit", class: "btn primary" }, "Add site");
  return h(
    "form",
    {
      id: "add-site-form", "aria-label": "Add a site", novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        for (const f of [domain, tz]) (f.err.hidden = true), f.input.removeAttribute("aria-invalid");
        submit.disabled = true;
        try {
          const r = await api<Site>("POST", "/api/v1/sites", { domain: domain.input.value.trim().toLowerCase(), timezone: tz.input.value.trim() });
          added(r.site);
        } catch (err) {
          // A refusal names its field: the time zone, else the domain.
          const f = /time zone|timezone/i.test(String((err as Error).message)) ? tz : domain;
          f.err.textContent = (err as Error).message;
          f.err.hidden = false;
          f.input.setAttribute("aria-invalid", "true");
          f.input.focus();
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h2", {}, "Add a site"),
    h("div", { class: "form-grid" }, domain.el, tz.el),
    h("datalist", { id: "zones" }, zones.map((z) => h("option", { value: z }))),
    h("div", { class: "actions" }, submit, cancel && h("button", { type: "button", class: "btn", onclick: cancel }, "Cancel")),
  );
}

/** The header's "Add site" button and its dialog. */
export function addSiteButton(added: (site: string) => void): HTMLElement[] {
  const dialog = h("dialog", { id: "add-site-dialog", "aria-labelledby": "add-site-title" });
  const button = h("button", {
    type: "button", class: "btn small", id: "add-site", "aria-label": "Add a site",
    onclick: () => {
      dialog.replaceChildren(siteForm((s) => (dialog.close(), added(s)), () => dialog.close()));
      dialog.querySelector("h2")!.id = "add-site-title";
      dialog.showModal();
    },
  }, "+ Site");
  return [button, dialog];
}
