//! [`Noisy`]: a released number. Only the release layer makes one (its
//! fields are private and it has no public constructor, no `Default`, no
//! `Deserialize`), and the tables, cards, chart and JSON of the Tier 2
//! views take nothing else, so an exact Tier 2 aggregate has no way out.
//!
//! What post-processing of released numbers gives is released too (sums
//! of released cells, ratios, changes): those are methods here, each
//! carrying the error along.

use super::noise;

/// What a number is, for formatting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    /// 0..=1, shown as a percentage.
    Share,
    Money,
    /// Seconds.
    Duration,
    Decimal,
}

/// A released value: the noisy number, the variance of its noise, and
/// whether it is too small to tell from the noise ("fewer than N").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noisy {
    value: f64,
    variance: f64,
    unit: Unit,
    /// A ratio of released numbers: too noisy is "–", never "fewer than".
    derived: bool,
}

impl Noisy {
    /// A released sum: `value` already has its noise.
    pub(super) fn released(value: f64, variance: f64, unit: Unit) -> Noisy {
        Noisy { value, variance, unit, derived: false }
    }

    /// The released value itself. Counts and money are never shown below
    /// zero (noise can push them there; clamping is post-processing).
    pub fn value(&self) -> f64 {
        match self.unit {
            Unit::Count | Unit::Money | Unit::Duration => self.value.max(0.0),
            Unit::Share => self.value.clamp(0.0, 1.0),
            Unit::Decimal => self.value.max(0.0),
        }
    }

    /// The ± (about 95 %).
    pub fn error(&self) -> f64 {
        noise::error(self.variance)
    }

    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// A count whose released value is within its own error of zero: it
    /// is shown as "fewer than N" (N the top of its interval), never as a
    /// small number.
    pub fn suppressed(&self) -> Option<u64> {
        let sum = matches!(self.unit, Unit::Count | Unit::Money) && !self.derived && self.variance.is_finite();
        (sum && self.value < self.error()).then(|| (self.value.max(0.0) + self.error()).ceil().max(1.0) as u64)
    }

    /// A ratio too noisy to mean anything: its ± is wider than a quarter
    /// (shares) or than the value itself (durations, pages per visit), or
    /// its denominator was too small to tell.
    pub fn unclear(&self) -> bool {
        match self.unit {
            Unit::Count | Unit::Money if !self.derived => false,
            Unit::Share => !self.variance.is_finite() || self.error() > 0.25,
            Unit::Count | Unit::Money => !self.variance.is_finite() || self.error() > self.value().max(f64::MIN_POSITIVE),
            Unit::Duration | Unit::Decimal => !self.variance.is_finite() || self.error() > self.value().max(f64::MIN_POSITIVE),
        }
    }

    /// The sum of released values (cells of several days).
    pub fn sum(items: impl IntoIterator<Item = Noisy>, unit: Unit) -> Noisy {
        let (mut value, mut variance) = (0.0, 0.0);
        for n in items {
            value += n.value;
            variance += n.variance;
        }
        Noisy { value, variance, unit, derived: false }
    }

    /// `self / other` with its error by the delta method. Ratios of small
    /// or suppressed denominators are not shown (see [`Noisy::ratio_shown`]).
    pub fn ratio(&self, other: &Noisy, unit: Unit) -> Noisy {
        let (a, b) = (self.value.max(0.0), other.value);
        if b <= 0.0 || other.suppressed().is_some() {
            return Noisy { value: 0.0, variance: f64::INFINITY, unit, derived: true };
        }
        let r = a / b;
        // Var(a/b) ≈ (Var a + r² Var b) / b².
        let variance = (self.variance + r * r * other.variance) / (b * b);
        Noisy { value: r, variance, unit, derived: true }
    }

    /// The relative change from `before`, itself released.
    pub fn change(&self, before: &Noisy) -> Option<f64> {
        (before.value() > 0.0 && before.suppressed().is_none()).then(|| (self.value() - before.value()) / before.value())
    }

    /// Whether a ratio means anything: its error is finite and not larger
    /// than the ratio's own scale.
    pub fn ratio_shown(&self) -> bool {
        self.variance.is_finite() && self.error() <= self.value().max(1.0)
    }

    /// For people: "1,234", "fewer than 40", "12.5 %".
    pub fn display(&self) -> String {
        if let Some(n) = self.suppressed() {
            return match self.unit {
                Unit::Money => format!("< {}", crate::table::money(n as f64)),
                _ => format!("< {}", crate::table::thousands(n)),
            };
        }
        if self.unclear() {
            return "–".into();
        }
        let v = self.value();
        match self.unit {
            Unit::Count => crate::table::thousands(v.round() as u64),
            Unit::Share => format!("{:.1} %", v * 100.0),
            Unit::Money => crate::table::money(v),
            Unit::Duration => crate::table::duration(v),
            Unit::Decimal => format!("{v:.2}"),
        }
    }

    /// The ± for people, in the number's unit: "±12", "±0.4 %".
    pub fn error_display(&self) -> String {
        if !self.variance.is_finite() {
            return "too few visits to tell".into();
        }
        if self.unclear() {
            return format!("too few visits to tell (±{})", match self.unit {
                Unit::Share => format!("{:.0} %", self.error() * 100.0),
                Unit::Duration => crate::table::duration(self.error()),
                _ => format!("{:.2}", self.error()),
            });
        }
        let e = self.error();
        match self.unit {
            Unit::Count => format!("±{}", crate::table::thousands(e.ceil() as u64)),
            Unit::Share => format!("±{:.1} %", e * 100.0),
            Unit::Money => format!("±{}", crate::table::money(e)),
            Unit::Duration => format!("±{}", crate::table::duration(e)),
            Unit::Decimal => format!("±{e:.2}"),
        }
    }

    /// For machines: the value (`None` when suppressed or unknown).
    pub fn json_value(&self) -> Option<f64> {
        if self.suppressed().is_some() || !self.variance.is_finite() || self.unclear() {
            return None;
        }
        Some(match self.unit {
            Unit::Count => self.value().round(),
            Unit::Money => (self.value() * 100.0).round() / 100.0,
            _ => self.value(),
        })
    }

    /// For machines: the ± (`None` when unknown).
    pub fn json_error(&self) -> Option<f64> {
        self.variance.is_finite().then(|| match self.unit {
            Unit::Count => self.error().ceil(),
            Unit::Money => (self.error() * 100.0).ceil() / 100.0,
            _ => self.error(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_never_shown_as_numbers() {
        let tiny = Noisy::released(3.0, noise::variance(5.0), Unit::Count);
        assert_eq!(tiny.suppressed(), Some(18), "3 ± 14.1");
        assert_eq!(tiny.display(), "< 18");
        assert_eq!(tiny.json_value(), None);
        let big = Noisy::released(1234.4, noise::variance(5.0), Unit::Count);
        assert_eq!((big.display(), big.error_display()), ("1,234".to_string(), "±15".to_string()));
        let negative = Noisy::released(-40.0, 1.0, Unit::Money);
        assert_eq!(negative.value(), 0.0);
        assert_eq!(Noisy::released(900.0, noise::variance(1000.0), Unit::Money).display(), "< 3,729.00", "money is a sum like any other");
    }

    #[test]
    fn sums_and_ratios_carry_their_error() {
        let day = |v| Noisy::released(v, 50.0, Unit::Count);
        let total = Noisy::sum([day(100.0), day(200.0), day(300.0)], Unit::Count);
        assert_eq!((total.value(), total.error()), (600.0, 2.0 * 150f64.sqrt()));
        let r = day(50.0).ratio(&day(100.0), Unit::Share);
        assert!((r.value() - 0.5).abs() < 1e-12);
        assert!(r.error() > 0.0 && r.ratio_shown());
        assert!(!day(5.0).ratio(&Noisy::released(-2.0, 50.0, Unit::Count), Unit::Share).ratio_shown());
        let noisy_share = day(5.0).ratio(&day(20.0), Unit::Share);
        assert!(noisy_share.unclear(), "±{}", noisy_share.error());
        assert_eq!(noisy_share.display(), "–");
        assert_eq!(noisy_share.json_value(), None);
        assert!(noisy_share.error_display().starts_with("too few visits to tell"));
        let average = Noisy::released(100.0, 50.0, Unit::Money).ratio(&Noisy::released(3.0, 50.0, Unit::Count), Unit::Money);
        assert_eq!((average.suppressed(), average.display().as_str()), (None, "–"), "a ratio is never 'fewer than'");
    }
}
