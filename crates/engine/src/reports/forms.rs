//! Forms, from the tracker's `form_start`, `form_field` (property `field`) and
//! `form_submit` events, each with the property `form_id`. A start is a session's first
//! `form_start` of a form; the session's later events of that form belong to it.

use cairn_model::query::result::{FormFieldRow, FormRow, FormsResult};
use cairn_model::query::{Field, FormsSpec};
use cairn_timeline::Timeline;
use rustc_hash::FxHashMap;

use super::name_is;
use crate::Error;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::matcher::{EventPred, FieldReader, Needs};
use crate::prepare::Prepared;
use crate::stats::{time_stats, wilson};

/// Events of the tracker's form autocapture.
pub const FORM_START: &str = "form_start";
/// A field got focus (property `field`).
pub const FORM_FIELD: &str = "form_field";
/// The form was submitted.
pub const FORM_SUBMIT: &str = "form_submit";

pub(crate) fn run(cx: Cx<'_>, spec: &FormsSpec) -> Result<FormsResult, Error> {
    driver::run(cx, &Forms { spec }, cx.r.from, cx.r.to)
}

fn form_id() -> Field {
    Field::Prop("form_id".into())
}

fn field() -> Field {
    Field::Prop("field".into())
}

struct Forms<'a> {
    spec: &'a FormsSpec,
}

impl<'a> Analysis for Forms<'a> {
    type Pass = FormsPass<'a>;

    fn needs(&self, needs: &mut Needs) {
        needs.add_field(&form_id());
        needs.add_field(&field());
    }

    fn compile(&self, sc: &Scope<'_>) -> FormsPass<'a> {
        FormsPass {
            spec: self.spec,
            is_start: name_is(sc, FORM_START),
            is_field: name_is(sc, FORM_FIELD),
            is_submit: name_is(sc, FORM_SUBMIT),
            form_rd: FieldReader::new(sc.scan, &sc.pages, &form_id()),
            field_rd: FieldReader::new(sc.scan, &sc.pages, &field()),
        }
    }
}

struct FormsPass<'a> {
    spec: &'a FormsSpec,
    is_start: EventPred,
    is_field: EventPred,
    is_submit: EventPred,
    form_rd: FieldReader,
    field_rd: FieldReader,
}

/// A form or field value: a dictionary token.
type Token = (u8, u64);

#[derive(Default)]
struct FieldAcc {
    touched: u64,
    last: u64,
    times: Vec<i64>,
}

#[derive(Default)]
struct FormAcc {
    starts: u64,
    submits: u64,
    to_submit: Vec<i64>,
    fields: FxHashMap<Token, FieldAcc>,
}

impl Pass for FormsPass<'_> {
    type State = FxHashMap<Token, FormAcc>;
    type Output = FormsResult;

    fn state(&self) -> Self::State {
        FxHashMap::default()
    }

    fn timeline(&self, _: &Scope<'_>, tl: &Timeline, prep: &Prepared, forms: &mut Self::State) {
        for &(a, b) in &prep.sessions {
            self.session(tl, prep, a as usize, b as usize, forms);
        }
    }

    fn merge(&self, into: &mut Self::State, from: Self::State) {
        for (k, v) in from {
            let e = into.entry(k).or_default();
            e.starts += v.starts;
            e.submits += v.submits;
            e.to_submit.extend(v.to_submit);
            for (fk, fv) in v.fields {
                let f = e.fields.entry(fk).or_default();
                f.touched += fv.touched;
                f.last += fv.last;
                f.times.extend(fv.times);
            }
        }
    }

    fn finish(self, sc: &Scope<'_>, all: Self::State) -> FormsResult {
        let mut rows: Vec<FormRow> = all
            .into_iter()
            .map(|(k, v)| {
                let mut fields: Vec<FormFieldRow> = v
                    .fields
                    .into_iter()
                    .map(|(fk, f)| FormFieldRow {
                        field: self.field_rd.text(sc.scan, fk),
                        touched: f.touched,
                        last_before_abandon: f.last,
                        time: time_stats(f.times),
                    })
                    .collect();
                fields.sort_by(|a, b| {
                    b.touched
                        .cmp(&a.touched)
                        .then_with(|| a.field.cmp(&b.field))
                });
                FormRow {
                    form: self.form_rd.text(sc.scan, k),
                    starts: v.starts,
                    submissions: v.submits,
                    submission_rate: wilson(v.submits, v.starts),
                    abandonment: wilson(v.starts - v.submits, v.starts),
                    time_to_submit: time_stats(v.to_submit),
                    fields,
                }
            })
            .collect();
        rows.sort_by(|a, b| b.starts.cmp(&a.starts).then_with(|| a.form.cmp(&b.form)));
        rows.truncate(self.spec.limit);
        FormsResult { forms: rows }
    }
}

impl FormsPass<'_> {
    /// The forms of the session made of kept positions `[a, b)`.
    fn session(
        &self,
        tl: &Timeline,
        prep: &Prepared,
        a: usize,
        b: usize,
        forms: &mut FxHashMap<Token, FormAcc>,
    ) {
        let form_rd = &self.form_rd;
        // Forms started in this session, with the start position.
        let mut started: Vec<(Token, usize)> = Vec::new();
        for p in a..b {
            let i = prep.kept[p] as usize;
            if self.is_start.test(tl, i)
                && let Some(f) = form_rd.token(tl, i)
                && !started.iter().any(|(g, _)| *g == f)
            {
                started.push((f, p));
            }
        }
        for (form, s) in started {
            let acc = forms.entry(form).or_default();
            acc.starts += 1;
            let mut touched: Vec<Token> = Vec::new();
            let mut open_field: Option<(Token, i64)> = None;
            let mut last_field = None;
            let mut submitted = None;
            for p in s..b {
                let i = prep.kept[p] as usize;
                let field_ev = self.is_field.test(tl, i);
                let submit_ev = self.is_submit.test(tl, i);
                if !(field_ev || submit_ev) || form_rd.token(tl, i) != Some(form) {
                    continue;
                }
                if let Some((f, t0)) = open_field.take() {
                    acc.fields.entry(f).or_default().times.push(prep.ts[p] - t0);
                }
                if submit_ev {
                    submitted = Some(prep.ts[p]);
                    break;
                }
                if let Some(f) = self.field_rd.token(tl, i) {
                    if !touched.contains(&f) {
                        touched.push(f);
                        acc.fields.entry(f).or_default().touched += 1;
                    }
                    open_field = Some((f, prep.ts[p]));
                    last_field = Some(f);
                }
            }
            match submitted {
                Some(t) => {
                    acc.submits += 1;
                    acc.to_submit.push(t - prep.ts[s]);
                }
                None => {
                    if let Some(f) = last_field {
                        acc.fields.entry(f).or_default().last += 1;
                    }
                }
            }
        }
    }
}
