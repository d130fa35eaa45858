//! Money and token usage. Money is an integer number of micro-cents (1 USD = 10^8 µ¢), never a
//! float, so sums are exact and a budget check is a plain integer comparison.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign};

/// An amount of money in micro-cents (1 USD = 100 cents = 100,000,000 µ¢).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(transparent)]
pub struct MicroCents(pub u64);

impl MicroCents {
    /// Zero.
    pub const ZERO: MicroCents = MicroCents(0);
    /// Micro-cents in one US dollar.
    pub const PER_USD: u64 = 100_000_000;

    /// An amount of whole and fractional dollars given as `usd * 10^8` (exact).
    pub fn from_usd_e8(usd_e8: u64) -> MicroCents {
        MicroCents(usd_e8)
    }

    /// The cost of `tokens` at `price_per_million` µ¢ per million tokens, rounded up to the next
    /// micro-cent (we never under-charge a budget).
    pub fn for_tokens(tokens: u64, price_per_million: MicroCents) -> MicroCents {
        let product = u128::from(tokens) * u128::from(price_per_million.0);
        let cost = product.div_ceil(1_000_000);
        MicroCents(u64::try_from(cost).unwrap_or(u64::MAX))
    }

    /// Adds, saturating at the maximum instead of wrapping.
    pub fn saturating_add(self, other: MicroCents) -> MicroCents {
        MicroCents(self.0.saturating_add(other.0))
    }
}

impl Add for MicroCents {
    type Output = MicroCents;
    fn add(self, rhs: MicroCents) -> MicroCents {
        self.saturating_add(rhs)
    }
}

impl AddAssign for MicroCents {
    fn add_assign(&mut self, rhs: MicroCents) {
        *self = *self + rhs;
    }
}

impl fmt::Display for MicroCents {
    /// Dollars with six decimals, e.g. `$0.001234` (sub-micro-dollar digits are truncated).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dollars = self.0 / MicroCents::PER_USD;
        let micro_dollars = (self.0 % MicroCents::PER_USD) / 100;
        write!(f, "${dollars}.{micro_dollars:06}")
    }
}

impl MicroCents {
    /// Parses exact decimal dollars: `"3.00"`, `"0.125"`, and in workflow files also
    /// `"0.25 USD"` or `"$0.25"` (at most 8 decimals, so the value is exact).
    pub fn parse_usd(text: &str) -> Result<MicroCents, String> {
        let trimmed = text.trim();
        let number = trimmed
            .strip_prefix('$')
            .or_else(|| trimmed.strip_suffix("USD").map(str::trim_end))
            .unwrap_or(trimmed);
        let bad = || format!("`{text}` is not an amount in dollars (e.g. `0.25 USD`)");
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 8 {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let fraction: u64 = format!("{fraction:0<8}").parse().map_err(|_| bad())?;
        whole
            .checked_mul(MicroCents::PER_USD)
            .and_then(|w| w.checked_add(fraction))
            .map(MicroCents)
            .ok_or_else(bad)
    }
}

/// Tokens used by one call, one node or one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Prompt tokens billed at the input rate (excluding cache reads and writes).
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Prompt tokens read from the provider's cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
}

impl Usage {
    /// All tokens counted.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

impl Add for Usage {
    type Output = Usage;
    fn add(self, rhs: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_add(rhs.input_tokens),
            output_tokens: self.output_tokens.saturating_add(rhs.output_tokens),
            cache_read_tokens: self.cache_read_tokens.saturating_add(rhs.cache_read_tokens),
            cache_write_tokens: self
                .cache_write_tokens
                .saturating_add(rhs.cache_write_tokens),
        }
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, rhs: Usage) {
        *self = *self + rhs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_cost_is_exact_and_rounds_up() {
        // $3 per million tokens = 3 * 10^8 µ¢ per million = 300 µ¢ per token.
        let price = MicroCents(3 * MicroCents::PER_USD);
        assert_eq!(MicroCents::for_tokens(1_000, price), MicroCents(300_000));
        // $0.15 per million: 15 µ¢ per token.
        assert_eq!(
            MicroCents::for_tokens(7, MicroCents(15_000_000)),
            MicroCents(105)
        );
        // A fraction of a micro-cent is charged as a whole one.
        assert_eq!(MicroCents::for_tokens(1, MicroCents(1)), MicroCents(1));
        assert_eq!(
            MicroCents::for_tokens(u64::MAX, MicroCents(u64::MAX)),
            MicroCents(u64::MAX)
        );
    }

    #[test]
    fn dollar_amounts_parse_exactly() {
        assert_eq!(
            MicroCents::parse_usd("0.25 USD"),
            Ok(MicroCents(25_000_000))
        );
        assert_eq!(MicroCents::parse_usd("$1.5"), Ok(MicroCents(150_000_000)));
        assert_eq!(MicroCents::parse_usd("0.00000001"), Ok(MicroCents(1)));
        for bad in ["", "abc", "-1", "1.2.3", "0.000000001", "1e3", ".5"] {
            assert!(MicroCents::parse_usd(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn money_displays_as_dollars() {
        assert_eq!(MicroCents(123_456_789).to_string(), "$1.234567");
        assert_eq!(MicroCents(100).to_string(), "$0.000001");
    }

    #[test]
    fn usage_adds_up() {
        let a = Usage {
            input_tokens: 1,
            output_tokens: 2,
            cache_read_tokens: 3,
            cache_write_tokens: 4,
        };
        assert_eq!((a + a).total_tokens(), 20);
    }
}
