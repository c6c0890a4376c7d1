//! Built-in micro-conversion reports, one per file: checkout step drop-off
//! ([`checkout`]), cart abandonment and recovery ([`cart`]), form analytics ([`forms`]),
//! pages with entries, exits, exit and bounce rates ([`pages`]) and the overview
//! (visitors, sessions, bounce rate, pages per session, session duration:
//! [`overview`]), and the events and properties explorer ([`events`]). Each is an
//! [`Analysis`](crate::driver::Analysis) run by the driver.

pub(crate) mod cart;
pub(crate) mod checkout;
pub(crate) mod events;
pub(crate) mod forms;
pub(crate) mod overview;
pub(crate) mod pages;

use cairn_model::Dim;
use cairn_model::query::{Condition, Field};

use crate::driver::Scope;
use crate::matcher::EventPred;
use crate::prepare::Prepared;

/// Event names that do not stop a session from bouncing: passive signals the tracker
/// sends on its own (an experiment's exposure is sent when the page picks a variant, not
/// when the visitor does anything). Neither are they path nodes nor influence candidates.
pub const NON_INTERACTIVE: [&str; 3] = ["scroll", "engagement", "experiment_exposure"];

/// An event's name is `name`.
fn name_is(sc: &Scope<'_>, name: &str) -> EventPred {
    EventPred::new(
        sc.scan,
        &sc.pages,
        &[vec![Condition::eq_str(Field::Dim(Dim::Name), name)]],
    )
}

/// Events that do not stop a session from bouncing.
pub(crate) fn passive_pred(sc: &Scope<'_>) -> EventPred {
    EventPred::new(
        sc.scan,
        &sc.pages,
        &NON_INTERACTIVE.map(|n| vec![Condition::eq_str(Field::Dim(Dim::Name), n)]),
    )
}

/// Whether the session `[a, b)` bounced: exactly one pageview and no other event except
/// the non-interactive ones.
fn bounced(prep: &Prepared, passive: &[bool], a: usize, b: usize) -> bool {
    let mut pv = 0;
    for (&is_pv, &is_passive) in prep.pageview[a..b].iter().zip(&passive[a..b]) {
        if is_pv {
            pv += 1;
        } else if !is_passive {
            return false;
        }
    }
    pv == 1
}
