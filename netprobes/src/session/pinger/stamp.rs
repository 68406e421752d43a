//! What a [`super::Pinger`]'s echo data starts with: whose packet it is, so a reply
//! is matched on its data alone where the kernel rewrote the identifier. Not a
//! time stamp: send times stay in the pinger (a peer cannot forge round trips).

/// The first [`Stamp::LEN`] bytes of the echo data, big-endian; the rest is ping's
/// filler pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Per-pinger random value.
    pub cookie: u32,
    /// The check's slot and its generation.
    pub slot: u32,
    pub generation: u32,
    /// The packet's index within its check, from 0.
    pub index: u32,
}

impl Stamp {
    pub const LEN: usize = 16;

    /// Reads a stamp from the start of echo data; `None` if the data is shorter.
    pub fn parse(data: &[u8]) -> Option<Stamp> {
        let word = |i: usize| data.get(i * 4..i * 4 + 4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
        Some(Stamp { cookie: word(0)?, slot: word(1)?, generation: word(2)?, index: word(3)? })
    }

    /// Fills `data` with the stamp then the pattern `0x10, 0x11, …` at the same
    /// offsets as ping's filler. Data shorter than the stamp gets a cut stamp, which
    /// [`Stamp::parse`] then refuses.
    pub fn emit(&self, data: &mut [u8]) {
        let words = [self.cookie, self.slot, self.generation, self.index];
        for (i, b) in data.iter_mut().enumerate() {
            *b = match words.get(i / 4) {
                Some(w) => w.to_be_bytes().get(i % 4).copied().unwrap_or(0),
                None => (i as u8).wrapping_add(0x10 - Self::LEN as u8),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_short_data_is_refused() {
        let s = Stamp { cookie: 0xdead_beef, slot: 7, generation: 0x0102_0304, index: 19 };
        let mut data = [0u8; 24];
        s.emit(&mut data);
        assert_eq!(&data[..16], &[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7, 1, 2, 3, 4, 0, 0, 0, 19]);
        assert_eq!(&data[16..], &[0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17]);
        assert_eq!(Stamp::parse(&data), Some(s));
        let mut short = [0u8; 15];
        s.emit(&mut short);
        assert_eq!(Stamp::parse(&short), None);
    }
}
