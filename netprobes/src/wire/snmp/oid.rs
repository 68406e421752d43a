//! OBJECT IDENTIFIER values kept in their BER content encoding, borrowed from the
//! datagram when decoded and owned when built, with arc iteration, ordering,
//! subtree tests and the dotted text form net-snmp prints (`.1.3.6.1.2.1.1.1.0`).
//!
//! Keeping the encoded bytes (validated once) makes decoding zero-copy, and because
//! each arc's encoding is self-delimiting, "is in subtree" is a byte-prefix test.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// SNMP limits an OID to 128 sub-identifiers (RFC 2578 §3.5).
pub const MAX_ARCS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OidError {
    #[error("empty OID")]
    Empty,
    #[error("OID needs at least two arcs")]
    TooShort,
    #[error("OID has more than {MAX_ARCS} arcs")]
    TooLong,
    #[error("first arc must be 0, 1 or 2 (and the second below 40 unless the first is 2)")]
    BadFirstArcs,
    #[error("sub-identifier does not fit 32 bits")]
    ArcTooLarge,
    #[error("sub-identifier has a non-minimal encoding")]
    NonMinimal,
    #[error("last sub-identifier is truncated")]
    Truncated,
    #[error("`{0}` is not a number")]
    NotANumber(String),
}

/// An OBJECT IDENTIFIER. Invariant: `0` holds a valid, minimal BER encoding of at
/// least two and at most [`MAX_ARCS`] arcs, each fitting u32.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Oid<'a>(Cow<'a, [u8]>);

impl<'a> Oid<'a> {
    /// Validate BER content bytes (what follows tag 0x06 and its length).
    pub fn from_ber(bytes: &'a [u8]) -> Result<Self, OidError> {
        validate(bytes)?;
        Ok(Oid(Cow::Borrowed(bytes)))
    }

    /// Build from arcs, such as `[1, 3, 6, 1, 2, 1, 1, 1, 0]`.
    pub fn from_arcs(arcs: &[u32]) -> Result<Oid<'static>, OidError> {
        let (first, second, rest) = match arcs {
            [] => return Err(OidError::Empty),
            [_] => return Err(OidError::TooShort),
            [a, b, rest @ ..] => (*a, *b, rest),
        };
        if arcs.len() > MAX_ARCS {
            return Err(OidError::TooLong);
        }
        if first > 2 || (first < 2 && second >= 40) {
            return Err(OidError::BadFirstArcs);
        }
        let mut out = Vec::with_capacity(arcs.len() + 4);
        push_base128(&mut out, u64::from(first) * 40 + u64::from(second));
        for &a in rest {
            push_base128(&mut out, u64::from(a));
        }
        Ok(Oid(Cow::Owned(out)))
    }

    /// The BER content bytes.
    pub fn as_ber(&self) -> &[u8] {
        &self.0
    }

    pub fn into_owned(self) -> Oid<'static> {
        Oid(Cow::Owned(self.0.into_owned()))
    }

    pub fn to_owned_oid(&self) -> Oid<'static> {
        Oid(Cow::Owned(self.0.to_vec()))
    }

    pub fn arcs(&self) -> Arcs<'_> {
        Arcs { bytes: &self.0, pending_second: None, first: true }
    }

    pub fn to_arcs(&self) -> Vec<u32> {
        self.arcs().collect()
    }

    /// `self` equals `prefix` or lies below it.
    pub fn starts_with(&self, prefix: &Oid<'_>) -> bool {
        // Arcs after the first pair encode self-delimitingly and (first, second)
        // maps to one number injectively, so arc prefix == byte prefix.
        self.0.starts_with(&prefix.0)
    }

    /// A child: `self` followed by `arcs`.
    pub fn join(&self, arcs: &[u32]) -> Result<Oid<'static>, OidError> {
        if self.arcs().count() + arcs.len() > MAX_ARCS {
            return Err(OidError::TooLong);
        }
        let mut out = self.0.to_vec();
        for &a in arcs {
            push_base128(&mut out, u64::from(a));
        }
        Ok(Oid(Cow::Owned(out)))
    }
}

impl Ord for Oid<'_> {
    /// Lexicographic on arcs, the order GETNEXT walks in.
    fn cmp(&self, other: &Self) -> Ordering {
        self.arcs().cmp(other.arcs())
    }
}

impl PartialOrd for Oid<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for Oid<'static> {
    type Err = OidError;

    /// `1.3.6.1.2.1.1.1.0` or `.1.3.6.1.2.1.1.1.0` (net-snmp's numeric form).
    fn from_str(s: &str) -> Result<Self, OidError> {
        let s = s.strip_prefix('.').unwrap_or(s);
        if s.is_empty() {
            return Err(OidError::Empty);
        }
        let mut arcs = Vec::with_capacity(16);
        for part in s.split('.') {
            if arcs.len() >= MAX_ARCS {
                return Err(OidError::TooLong);
            }
            let a = part.parse::<u32>().map_err(|_| {
                if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                    OidError::ArcTooLarge
                } else {
                    OidError::NotANumber(part.to_owned())
                }
            })?;
            arcs.push(a);
        }
        Oid::from_arcs(&arcs)
    }
}

impl fmt::Display for Oid<'_> {
    /// Dotted with a leading dot, as `snmpget -On` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for a in self.arcs() {
            write!(f, ".{a}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

/// Iterator over the arcs of a validated OID.
#[derive(Debug, Clone)]
pub struct Arcs<'b> {
    bytes: &'b [u8],
    pending_second: Option<u32>,
    first: bool,
}

impl Iterator for Arcs<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if let Some(s) = self.pending_second.take() {
            return Some(s);
        }
        let (v, used) = read_base128(self.bytes)?;
        self.bytes = self.bytes.get(used..).unwrap_or(&[]);
        if self.first {
            self.first = false;
            let (a, b) = split_first_pair(v);
            self.pending_second = Some(b);
            return Some(a);
        }
        // Validated arcs fit u32.
        Some(u32::try_from(v).unwrap_or(u32::MAX))
    }
}

fn split_first_pair(v: u64) -> (u32, u32) {
    let (a, b) = match v {
        0..=39 => (0, v),
        40..=79 => (1, v - 40),
        _ => (2, v - 80),
    };
    (a, u32::try_from(b).unwrap_or(u32::MAX))
}

/// One base-128 number: value and bytes used; `None` on truncation or overflow.
fn read_base128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if i >= 9 {
            return None;
        }
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn push_base128(out: &mut Vec<u8>, v: u64) {
    let mut tmp = [0u8; 10];
    let mut n = 0;
    let mut x = v;
    loop {
        tmp[n] = (x & 0x7f) as u8; // masked to 7 bits
        n += 1;
        x >>= 7;
        if x == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(tmp[i] | if i == 0 { 0 } else { 0x80 });
    }
}

fn validate(bytes: &[u8]) -> Result<(), OidError> {
    if bytes.is_empty() {
        return Err(OidError::Empty);
    }
    let mut rest = bytes;
    let mut arcs = 0usize;
    let mut first = true;
    while !rest.is_empty() {
        if rest.first() == Some(&0x80) {
            // A leading 0x80 pads the number: not minimal.
            return Err(OidError::NonMinimal);
        }
        let (v, used) = read_base128(rest).ok_or_else(|| {
            if rest.iter().take(9).all(|b| b & 0x80 != 0) && rest.len() >= 9 {
                OidError::ArcTooLarge
            } else {
                OidError::Truncated
            }
        })?;
        if first {
            first = false;
            // First subidentifier is 40*X+Y; the second arc must still fit u32.
            if v >= 80 && v - 80 > u64::from(u32::MAX) {
                return Err(OidError::ArcTooLarge);
            }
            arcs += 2;
        } else {
            if v > u64::from(u32::MAX) {
                return Err(OidError::ArcTooLarge);
            }
            arcs += 1;
        }
        if arcs > MAX_ARCS {
            return Err(OidError::TooLong);
        }
        rest = rest.get(used..).unwrap_or(&[]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_descr_round_trips() {
        let o: Oid = "1.3.6.1.2.1.1.1.0".parse().unwrap();
        assert_eq!(o.as_ber(), &[0x2b, 6, 1, 2, 1, 1, 1, 0]);
        assert_eq!(o.to_string(), ".1.3.6.1.2.1.1.1.0");
        assert_eq!(Oid::from_ber(&[0x2b, 6, 1, 2, 1, 1, 1, 0]).unwrap(), o);
        assert_eq!(".1.3.6.1.2.1.1.1.0".parse::<Oid>().unwrap(), o);
    }

    #[test]
    fn large_arcs_use_base128() {
        let o: Oid = "1.3.6.1.4.1.8072.3.2.10".parse().unwrap();
        assert_eq!(o.as_ber(), &[0x2b, 6, 1, 4, 1, 0xbf, 0x08, 3, 2, 10]);
        let max: Oid = "1.3.4294967295".parse().unwrap();
        assert_eq!(max.as_ber(), &[0x2b, 0x8f, 0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(max.to_arcs(), vec![1, 3, 4294967295]);
        let two: Oid = "2.999.1".parse().unwrap();
        assert_eq!(two.as_ber(), &[0x88, 0x37, 0x01]);
        assert_eq!(two.to_string(), ".2.999.1");
    }

    #[test]
    fn bad_encodings_are_refused() {
        assert_eq!(Oid::from_ber(&[]), Err(OidError::Empty));
        assert_eq!(Oid::from_ber(&[0x2b, 0x86]), Err(OidError::Truncated));
        assert_eq!(Oid::from_ber(&[0x2b, 0x80, 0x01]), Err(OidError::NonMinimal));
        assert_eq!(Oid::from_ber(&[0x2b, 0x90, 0x80, 0x80, 0x80, 0x00]), Err(OidError::ArcTooLarge));
        assert_eq!(Oid::from_ber(&[0x2b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), Err(OidError::ArcTooLarge));
        let long = vec![0x01; 200];
        assert_eq!(Oid::from_ber(&long), Err(OidError::TooLong));
        assert!("1".parse::<Oid>().is_err());
        assert!("3.1".parse::<Oid>().is_err());
        assert!("1.40".parse::<Oid>().is_err());
        assert!("1.3.x".parse::<Oid>().is_err());
        assert!("1.3.4294967296".parse::<Oid>().is_err());
        assert!("".parse::<Oid>().is_err());
    }

    #[test]
    fn order_and_subtrees() {
        let sys: Oid = "1.3.6.1.2.1.1".parse().unwrap();
        let descr: Oid = "1.3.6.1.2.1.1.1.0".parse().unwrap();
        let uptime: Oid = "1.3.6.1.2.1.1.3.0".parse().unwrap();
        let big: Oid = "1.3.6.1.2.1.1.200".parse().unwrap();
        let if_: Oid = "1.3.6.1.2.1.2".parse().unwrap();
        assert!(descr.starts_with(&sys));
        assert!(big.starts_with(&sys));
        assert!(!if_.starts_with(&sys));
        assert!(sys < descr && descr < uptime && uptime < big && big < if_);
        assert_eq!(sys.join(&[9, 1]).unwrap().to_string(), ".1.3.6.1.2.1.1.9.1");
    }
}
