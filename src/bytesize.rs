//! Sizes as people write them on a command line or in a job file: `64MiB`, `1GiB`, or bytes.

/// A size in bytes, written as a number with an optional unit: `1048576`, `512KiB`, `64MiB`, `2GiB`
/// (`KB`, `MB`, `GB` and `K`, `M`, `G` mean the same powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            _ => {
                return Err(format!("`{text}` is not a size: write bytes, or a number with KiB, MiB or GiB"))
            }
        };
        let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a size: it needs a number"))?;
        number
            .checked_mul(1 << shift)
            .filter(|&n| n > 0)
            .map(ByteSize)
            .ok_or_else(|| format!("`{text}` is not a size greater than 0 that fits in 64 bits"))
    }
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0;
        match n.trailing_zeros() {
            30.. => write!(f, "{} GiB", n >> 30),
            20.. => write!(f, "{} MiB", n >> 20),
            10.. => write!(f, "{} KiB", n >> 10),
            _ => write!(f, "{n} bytes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_and_print_as_people_write_them() {
        for (text, bytes) in
            [("1048576", 1 << 20), ("64MiB", 64 << 20), ("2 GiB", 2 << 30), ("512k", 512 << 10)]
        {
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{text}");
        }
        for bad in ["", "MiB", "0", "12 parsecs", "99999999999GiB", "-1"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
        assert_eq!(ByteSize(256 << 20).to_string(), "256 MiB");
        assert_eq!(ByteSize(1 << 30).to_string(), "1 GiB");
        assert_eq!(ByteSize(1000).to_string(), "1000 bytes");
    }
}
