//! Cart abandonment and recovery. Carts: sessions with a cart event. Purchased: a
//! purchase at or after the session's first cart event, in the same session.
//! Recovered: an abandoned cart whose visitor purchases after the session's last event
//! and within the recovery time.

use cairn_model::query::CartSpec;
use cairn_model::query::result::CartResult;
use cairn_timeline::Timeline;

use super::name_is;
use crate::Error;
use crate::driver::{self, Analysis, Cx, Pass, Scope};
use crate::matcher::EventPred;
use crate::prepare::Prepared;
use crate::stats::{time_stats, wilson};

pub(crate) fn run(cx: Cx<'_>, spec: &CartSpec) -> Result<CartResult, Error> {
    driver::run(cx, &Cart { spec }, cx.r.from, cx.r.to)
}

struct Cart<'a> {
    spec: &'a CartSpec,
}

impl Analysis for Cart<'_> {
    type Pass = CartPass;

    fn compile(&self, sc: &Scope<'_>) -> CartPass {
        CartPass {
            is_cart: name_is(sc, &self.spec.cart_event),
            is_buy: name_is(sc, &self.spec.purchase_event),
            recovery_ms: self.spec.recovery.ms,
        }
    }
}

struct CartPass {
    is_cart: EventPred,
    is_buy: EventPred,
    recovery_ms: i64,
}

#[derive(Default)]
struct Acc {
    carts: u64,
    purchased: u64,
    recovered: u64,
    /// Times to recover.
    ttr: Vec<i64>,
}

impl Pass for CartPass {
    /// Counts, and the times of the visitor's purchases (scratch).
    type State = (Acc, Vec<i64>);
    type Output = CartResult;

    fn state(&self) -> Self::State {
        (Acc::default(), Vec::new())
    }

    fn timeline(&self, _: &Scope<'_>, tl: &Timeline, prep: &Prepared, st: &mut Self::State) {
        let (acc, buys) = st;
        let (is_cart, is_buy) = (&self.is_cart, &self.is_buy);
        buys.clear();
        buys.extend(
            (0..prep.kept.len())
                .filter(|&p| is_buy.test(tl, prep.kept[p] as usize))
                .map(|p| prep.ts[p]),
        );
        for &(a, b) in &prep.sessions {
            let Some(c) = (a..b).find(|&p| is_cart.test(tl, prep.kept[p as usize] as usize)) else {
                continue;
            };
            acc.carts += 1;
            let end = prep.ts[b as usize - 1];
            let bought = (c..b).any(|p| is_buy.test(tl, prep.kept[p as usize] as usize));
            if bought {
                acc.purchased += 1;
                continue;
            }
            let k = buys.partition_point(|&t| t <= end);
            if let Some(&t) = buys.get(k).filter(|&&t| t - end <= self.recovery_ms) {
                acc.recovered += 1;
                acc.ttr.push(t - end);
            }
        }
    }

    fn merge(&self, (into, _): &mut Self::State, (from, _): Self::State) {
        into.carts += from.carts;
        into.purchased += from.purchased;
        into.recovered += from.recovered;
        into.ttr.extend(from.ttr);
    }

    fn finish(self, _: &Scope<'_>, (acc, _): Self::State) -> CartResult {
        let abandoned = acc.carts - acc.purchased;
        CartResult {
            carts: acc.carts,
            purchased: acc.purchased,
            abandoned,
            abandonment: wilson(abandoned, acc.carts),
            recovered: acc.recovered,
            recovery: wilson(acc.recovered, abandoned),
            time_to_recover: time_stats(acc.ttr),
        }
    }
}
