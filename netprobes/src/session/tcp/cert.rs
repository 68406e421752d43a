//! Just enough X.509 for a TCP check: the subject's common name and notAfter of a
//! DER certificate, by a small checked DER walk. Untrusted bytes: every length is
//! checked, nothing indexes out of bounds, nothing panics. Not a validator: rustls
//! verifies the certificate; this only reports on it.

use std::fmt;

/// What a check reports about a peer certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The first commonName (2.5.4.3) of the subject.
    pub subject_cn: Option<String>,
    /// notBefore, seconds since the Unix epoch.
    pub not_before: i64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
}

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("certificate truncated in {what}")]
    Truncated { what: &'static str },
    #[error("certificate {what}: expected tag {expected:#04x}, found {found:#04x}")]
    Tag { what: &'static str, expected: u8, found: u8 },
    #[error("certificate {what}: unsupported length encoding")]
    Length { what: &'static str },
    #[error("certificate validity: bad time {text:?}")]
    Time { text: String },
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// 2.5.4.3, commonName.
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];

/// One TLV: (tag, contents, what follows).
fn tlv<'a>(input: &'a [u8], what: &'static str) -> Result<(u8, &'a [u8], &'a [u8]), CertError> {
    let truncated = CertError::Truncated { what };
    let (&tag, rest) = input.split_first().ok_or(truncated.clone())?;
    if tag & 0x1f == 0x1f {
        // High tag numbers never occur in the parts of X.509 walked here.
        return Err(CertError::Length { what });
    }
    let (&first, mut rest) = rest.split_first().ok_or(truncated.clone())?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(CertError::Length { what });
        }
        let (bytes, r) = (rest.get(..n).ok_or(truncated.clone())?, rest.get(n..).unwrap_or_default());
        rest = r;
        bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let body = rest.get(..len).ok_or(truncated)?;
    Ok((tag, body, rest.get(len..).unwrap_or_default()))
}

fn expect<'a>(input: &'a [u8], tag: u8, what: &'static str) -> Result<(&'a [u8], &'a [u8]), CertError> {
    let (found, body, rest) = tlv(input, what)?;
    if found != tag {
        return Err(CertError::Tag { what, expected: tag, found });
    }
    Ok((body, rest))
}

/// Reads the subject CN and validity of a DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, CertError> {
    let (cert, _) = expect(der, SEQUENCE, "Certificate")?;
    let (tbs, _) = expect(cert, SEQUENCE, "tbsCertificate")?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest, "version")?.2;
    }
    rest = tlv(rest, "serialNumber")?.2;
    rest = expect(rest, SEQUENCE, "signature")?.1;
    rest = expect(rest, SEQUENCE, "issuer")?.1;
    let (validity, rest) = expect(rest, SEQUENCE, "validity")?;
    let (t1, nb, v) = tlv(validity, "notBefore")?;
    let (t2, na, _) = tlv(v, "notAfter")?;
    let (subject, _) = expect(rest, SEQUENCE, "subject")?;
    Ok(CertInfo { subject_cn: common_name(subject), not_before: parse_time(t1, nb)?, not_after: parse_time(t2, na)? })
}

/// The first commonName in a Name (SEQUENCE of SET of AttributeTypeAndValue).
fn common_name(mut name: &[u8]) -> Option<String> {
    while !name.is_empty() {
        let (rdn, rest) = expect(name, SET, "subject").ok()?;
        name = rest;
        let mut atvs = rdn;
        while !atvs.is_empty() {
            let (atv, more) = expect(atvs, SEQUENCE, "subject").ok()?;
            atvs = more;
            let (oid, value) = expect(atv, OID, "subject").ok()?;
            if oid == OID_CN {
                let (tag, text, _) = tlv(value, "subject").ok()?;
                return Some(decode_string(tag, text));
            }
        }
    }
    None
}

/// Directory strings: UTF8String, PrintableString, IA5String, TeletexString (read as
/// Latin-1-ish UTF-8, lossy) and BMPString (UTF-16BE).
fn decode_string(tag: u8, b: &[u8]) -> String {
    if tag == 0x1e {
        let units: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        return String::from_utf16_lossy(&units);
    }
    String::from_utf8_lossy(b).into_owned()
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950–2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn parse_time(tag: u8, b: &[u8]) -> Result<i64, CertError> {
    let bad = || CertError::Time { text: String::from_utf8_lossy(b).into_owned() };
    let (year, rest) = match (tag, b.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(b.get(..2).ok_or_else(bad)?).ok_or_else(bad)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, b.get(2..).ok_or_else(bad)?)
        }
        (GENERALIZED_TIME, 15) => (digits(b.get(..4).ok_or_else(bad)?).ok_or_else(bad)?, b.get(4..).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    if rest.last() != Some(&b'Z') {
        return Err(bad());
    }
    let field = |i: usize| rest.get(i..i + 2).and_then(digits).ok_or_else(bad);
    let (mo, d, h, mi, s) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    Ok(days_from_civil(year, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (era arithmetic: 400-year
/// cycles of 146097 days, with the year starting in March so leap days come last).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD HH:MM UTC`.
pub fn format_unix(t: i64) -> String {
    struct F(i64);
    impl fmt::Display for F {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let (y, m, d) = civil_from_days(self.0.div_euclid(86_400));
            let s = self.0.rem_euclid(86_400);
            write!(f, "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", s / 3600, s % 3600 / 60)
        }
    }
    F(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Certificates as served by `openssl s_server` on loopback (testdata/tcp/README).
    const EC_SHORT: &[u8] = include_bytes!("../../../testdata/tcp/ec-30days.der");
    const RSA_LONG: &[u8] = include_bytes!("../../../testdata/tcp/rsa-2126.der");

    #[test]
    fn calendar_arithmetic() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for z in [-800_000i64, -1, 0, 59, 11_016, 20_000, 60_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z, "{y}-{m}-{d}");
        }
        assert_eq!(format_unix(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_unix(951_782_400 + 3_660), "2000-02-29 01:01 UTC");
    }

    #[test]
    fn times_of_both_kinds() {
        assert_eq!(parse_time(UTC_TIME, b"700101000000Z"), Ok(0));
        assert_eq!(parse_time(UTC_TIME, b"491231235959Z"), Ok(2_524_607_999));
        assert_eq!(parse_time(UTC_TIME, b"500101000000Z"), Ok(-631_152_000));
        assert_eq!(parse_time(GENERALIZED_TIME, b"21260101000000Z"), Ok(days_from_civil(2126, 1, 1) * 86_400));
        for bad in [&b"7001010000Z"[..], b"700101000000+", b"701301000000Z", b"70010100000aZ", b""] {
            assert!(parse_time(UTC_TIME, bad).is_err(), "{bad:?}");
        }
        assert!(parse_time(0x04, b"700101000000Z").is_err());
    }

    #[test]
    fn captured_certificates() {
        let ec = parse_certificate(EC_SHORT).unwrap();
        assert_eq!(ec.subject_cn.as_deref(), Some("bergamot.test"));
        assert_eq!(ec.not_after - ec.not_before, 30 * 86_400);
        let rsa = parse_certificate(RSA_LONG).unwrap();
        assert_eq!(rsa.subject_cn.as_deref(), Some("Bergamot Prüfstand"));
        // GeneralizedTime: past 2049.
        assert!(format_unix(rsa.not_after).starts_with("2126-"), "{}", format_unix(rsa.not_after));
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        for cert in [EC_SHORT, RSA_LONG] {
            for n in 0..cert.len() {
                let _ = parse_certificate(&cert[..n]);
            }
            for i in 0..cert.len() {
                let mut c = cert.to_vec();
                c[i] ^= 0xff;
                let _ = parse_certificate(&c);
            }
        }
        assert_eq!(parse_certificate(&[]), Err(CertError::Truncated { what: "Certificate" }));
        assert!(matches!(parse_certificate(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), Err(CertError::Truncated { .. })));
        assert!(matches!(parse_certificate(&[0x30, 0x80, 0, 0]), Err(CertError::Length { .. })));
        assert!(matches!(parse_certificate(&[0x31, 0]), Err(CertError::Tag { .. })));
    }

    #[test]
    fn common_name_kinds() {
        // SET { SEQ { OID 2.5.4.6, PrintableString "DE" } }, SET { SEQ { OID CN, BMPString "Ab" } }
        let name = [
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'D', b'E', 0x31, 0x0d, 0x30, 0x0b, 0x06,
            0x03, 0x55, 0x04, 0x03, 0x1e, 0x04, 0x00, b'A', 0x00, b'b',
        ];
        assert_eq!(common_name(&name).as_deref(), Some("Ab"));
        assert_eq!(common_name(&name[..13]), None);
    }
}
