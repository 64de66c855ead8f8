//! The byte encoding of cache keys: length-prefixed fields, so no two
//! different field sequences give the same bytes. What a key is made of is
//! in `key.rs`; this file only says how fields become bytes, so the file
//! digests below the model can use it too.

/// A buffer of length-prefixed fields, hashed once: blake3's per-`update`
/// overhead dwarfs fields this small.
#[derive(Default)]
pub(crate) struct Encoder {
    bytes: Vec<u8>,
}

impl Encoder {
    pub(crate) fn with_capacity(capacity: usize) -> Encoder {
        Encoder {
            bytes: Vec::with_capacity(capacity),
        }
    }

    /// A count or length: 8 bytes, little endian, whatever the platform.
    pub(crate) fn count(&mut self, n: usize) -> &mut Self {
        self.bytes.extend_from_slice(&(n as u64).to_le_bytes());
        self
    }

    /// A byte string: its length, then its bytes.
    pub(crate) fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.count(value.len());
        self.bytes.extend_from_slice(value);
        self
    }

    pub(crate) fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    /// An optional string: a flag, then the string when there is one.
    pub(crate) fn opt_str(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            None => self.flag(false),
            Some(value) => self.flag(true).str(value),
        }
    }

    /// A flag: one byte, 0 or 1.
    pub(crate) fn flag(&mut self, value: bool) -> &mut Self {
        self.bytes.push(u8::from(value));
        self
    }

    /// A digest: fixed width, so written as it is.
    pub(crate) fn digest(&mut self, value: &[u8; 32]) -> &mut Self {
        self.bytes.extend_from_slice(value);
        self
    }

    /// A list of strings: its count, then each.
    pub(crate) fn strs<'s, I>(&mut self, items: I) -> &mut Self
    where
        I: IntoIterator<Item = &'s String>,
        I::IntoIter: ExactSizeIterator,
    {
        let items = items.into_iter();
        self.count(items.len());
        items.for_each(|item| {
            self.str(item);
        });
        self
    }

    /// Key/value pairs in the given order: their count, then key and value
    /// of each.
    pub(crate) fn pairs<'s, I>(&mut self, pairs: I) -> &mut Self
    where
        I: IntoIterator<Item = (&'s String, &'s String)>,
        I::IntoIter: ExactSizeIterator,
    {
        let pairs = pairs.into_iter();
        self.count(pairs.len());
        for (key, value) in pairs {
            self.str(key).str(value);
        }
        self
    }

    /// Command deps in their canonical order (`key::command_deps`).
    pub(crate) fn commands(&mut self, commands: &[Vec<u8>]) -> &mut Self {
        self.count(commands.len());
        commands.iter().for_each(|c| {
            self.bytes(c);
        });
        self
    }

    /// The bytes written so far.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub(crate) fn hash(&self) -> blake3::Hash {
        blake3::hash(&self.bytes)
    }

    pub(crate) fn hex(&self) -> String {
        self.hash().to_hex().to_string()
    }
}
