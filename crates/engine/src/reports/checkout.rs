//! Checkout drop-off: the distinct step numbers seen on the step event become a
//! per-session funnel `start → step 1 → step 2 → … → end`.

use cairn_model::query::result::FunnelResult;
use cairn_model::query::{
    CheckoutSpec, CondValue, Condition, Duration, Field, FunnelMode, FunnelSpec, Op, Scalar, Step,
    Unit, ValueRef,
};
use cairn_timeline::{PropVal, Timeline};
use rustc_hash::FxHashSet;

use super::name_is;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::matcher::{EventPred, Needs};
use crate::prepare::Prepared;
use crate::{Error, funnel};

/// Steps beyond this many are left out.
const MAX_STEPS: usize = 30;

/// Two passes: the step numbers, then their funnel.
pub(crate) fn run(cx: Cx<'_>, spec: &CheckoutSpec) -> Result<FunnelResult, Error> {
    let nums = driver::run(cx, &StepNumbers { spec }, cx.r.from, cx.r.to)?;
    let mut steps = vec![Step::event(&spec.start_event)];
    for x in nums {
        let mut s = Step::event(&spec.step_event);
        s.conditions.push(Condition::new(
            Field::Prop(spec.step_prop.clone()),
            Op::Eq,
            Some(CondValue::One(Scalar::Num(x))),
        ));
        s.label = Some(format!(
            "{} {}",
            spec.step_event,
            ValueRef::Num(x).to_label()
        ));
        steps.push(s);
    }
    steps.push(Step::event(&spec.end_event));
    let mut f = FunnelSpec::new(steps);
    f.unit = Unit::Session;
    f.mode = FunnelMode::Ordered;
    f.window = Duration::from_ms(7 * 86_400_000);
    funnel::run(cx, &f)
}

/// The distinct numbers of the step property on step events, ascending.
struct StepNumbers<'a> {
    spec: &'a CheckoutSpec,
}

impl Analysis for StepNumbers<'_> {
    type Pass = StepNumbersPass;

    fn needs(&self, needs: &mut Needs) {
        needs.add_number(&self.spec.step_prop);
    }

    fn compile(&self, sc: &Scope<'_>) -> StepNumbersPass {
        StepNumbersPass {
            is_step: name_is(sc, &self.spec.step_event),
            key: sc.scan.prop_keys().id(&self.spec.step_prop),
        }
    }
}

struct StepNumbersPass {
    is_step: EventPred,
    /// The step property's key, if the scan has it at all.
    key: Option<u32>,
}

impl Pass for StepNumbersPass {
    /// Bit patterns of the numbers seen.
    type State = FxHashSet<u64>;
    type Output = Vec<f64>;

    /// Steps are the step events kept by the event filters, of any visitor.
    const VISITOR_FILTERS: bool = false;

    fn state(&self) -> Self::State {
        FxHashSet::default()
    }

    fn timeline(&self, _: &Scope<'_>, tl: &Timeline, prep: &Prepared, set: &mut Self::State) {
        let Some(k) = self.key else { return };
        for &i in &prep.kept {
            let i = i as usize;
            if self.is_step.test(tl, i)
                && let Some(e) = tl.props(i).iter().find(|e| e.key == k)
                && let PropVal::Num(x) = e.val
            {
                set.insert(x.to_bits());
            }
        }
    }

    fn merge(&self, into: &mut Self::State, from: Self::State) {
        into.extend(from);
    }

    fn finish(self, _: &Scope<'_>, set: Self::State) -> Vec<f64> {
        let mut nums: Vec<f64> = set.into_iter().map(f64::from_bits).collect();
        nums.sort_by(f64::total_cmp);
        nums.dedup();
        nums.truncate(MAX_STEPS);
        nums
    }
}
