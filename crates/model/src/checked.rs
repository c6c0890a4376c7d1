//! Records checked once: [`Checked`] holds only records that passed
//! [`Record::validate`], so whoever takes one (the store's
//! [`append_checked`](../cairn_store/struct.Store.html)) does not check them again.

use crate::{Record, ValidationError};

/// Records that each passed [`Record::validate`]: made only by [`Checked::push`] (or
/// [`Checked::check_all`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checked {
    records: Vec<Record>,
}

impl Checked {
    /// None yet, room for `n`.
    pub fn with_capacity(n: usize) -> Checked {
        Checked {
            records: Vec::with_capacity(n),
        }
    }

    /// Checks `r` against the receiver's clock `now_ms` and keeps it if it is valid.
    pub fn push(&mut self, r: Record, now_ms: i64) -> Result<(), ValidationError> {
        r.validate(now_ms)?;
        self.records.push(r);
        Ok(())
    }

    /// Checks every record; the first invalid one is named by its index.
    pub fn check_all(
        records: Vec<Record>,
        now_ms: i64,
    ) -> Result<Checked, (usize, ValidationError)> {
        for (i, r) in records.iter().enumerate() {
            r.validate(now_ms).map_err(|e| (i, e))?;
        }
        Ok(Checked { records })
    }

    /// The records, in the order they were pushed.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records.
    pub fn into_records(self) -> Vec<Record> {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    #[test]
    fn only_valid_records_get_in() {
        let now = 1_900_000_000_000;
        let mut c = Checked::with_capacity(2);
        c.push(
            Record::Event(Event::new("a.example", now, 1, "pageview")),
            now,
        )
        .unwrap();
        let bad = Record::Event(Event::new("a.example", now, 1, ""));
        assert_eq!(c.push(bad.clone(), now).unwrap_err().field, "name");
        assert_eq!(c.len(), 1);
        let ok = Record::Event(Event::new("a.example", now, 2, "x"));
        assert_eq!(
            Checked::check_all(vec![ok.clone(), bad], now)
                .unwrap_err()
                .0,
            1
        );
        assert_eq!(Checked::check_all(vec![ok], now).unwrap().len(), 1);
    }
}
