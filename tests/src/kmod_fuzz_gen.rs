//! `kmod_fuzz`'s random sources: a seeded generator and the addresses handed to the module.
//!
//! Every address the fuzzer gives `/dev/msgq` comes from [`Arena::ptr`]: either inside the
//! worker's own scratch mapping (so a write by the module can only land there or fault on
//! the guard page after it), or an address no write can reach (NULL, low, unmapped, read-only,
//! kernel, non-canonical). Random 64-bit values that would be ordinary user addresses are
//! never passed, so the module can never scribble over the fuzzer's own memory.

/// SplitMix64: small, seedable, good enough for choosing fuzz inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn u32(&mut self) -> u32 {
        (self.u64() >> 32) as u32
    }
    /// 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.u64() % n
    }
    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const PAGE: usize = 4096;
/// The scratch area: big enough for a 64 KiB message and its mtype.
const RW_PAGES: usize = 20;

/// Where an address points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PtrKind {
    /// In the scratch area, 8-byte aligned (may still run into the guard page if long).
    Good,
    /// In the scratch area, not aligned.
    Misaligned,
    /// A few bytes before the guard page: the first bytes work, the rest fault.
    Straddle,
    /// A readable page that cannot be written.
    ReadOnly,
    Null,
    /// Below any mapping (1..64 KiB).
    Low,
    /// A PROT_NONE page.
    Unmapped,
    /// The last page below the user address limit (never mapped).
    TopOfUser,
    /// A kernel address.
    Kernel,
    /// Not canonical on x86_64.
    NonCanonical,
}

/// The kinds whose first byte faults, for reading and for writing.
pub const FAULTING: [PtrKind; 6] = [
    PtrKind::Null,
    PtrKind::Low,
    PtrKind::Unmapped,
    PtrKind::TopOfUser,
    PtrKind::Kernel,
    PtrKind::NonCanonical,
];

impl PtrKind {
    /// Whether even the first byte faults.
    pub fn faults(self) -> bool {
        FAULTING.contains(&self)
    }
}

/// A worker's scratch memory: `RW_PAGES` read-write pages followed by a PROT_NONE guard page,
/// a read-only page, and a PROT_NONE page. Lives as long as the process.
///
/// There is deliberately no "munmapped" address: a later mapping (a thread's stack, malloc's
/// arenas) may reuse it, and a receive into it would then overwrite live memory.
pub struct Arena {
    rw: usize,
    ro: usize,
    none: usize,
}

impl Arena {
    pub fn new() -> Arena {
        // The scratch pages and the guard page after them (`mem::edge`, but bigger).
        let (len, prot) = ((RW_PAGES + 1) * PAGE, libc::PROT_READ | libc::PROT_WRITE);
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        // SAFETY: an anonymous mapping at an address the kernel chooses touches no memory.
        let rw = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, -1, 0) };
        assert!(rw != libc::MAP_FAILED, "mmap failed");
        // SAFETY: the last page belongs to the mapping just made.
        let guard = unsafe { rw.cast::<u8>().add(RW_PAGES * PAGE) };
        // SAFETY: changes the protection of our own page only.
        let r = unsafe { libc::mprotect(guard.cast(), PAGE, libc::PROT_NONE) };
        assert_eq!(r, 0, "mprotect");
        Arena {
            rw: rw as usize,
            ro: msgq_tests::mem::read_only(0) as usize,
            none: msgq_tests::mem::unmapped() as usize,
        }
    }

    /// The first byte after the scratch area (the guard page).
    fn guard(&self) -> usize {
        self.rw + RW_PAGES * PAGE
    }

    /// An address of the given kind; `len` is how many bytes the call will touch there
    /// (a good address leaves room for them when it can).
    pub fn ptr_of(&self, rng: &mut Rng, kind: PtrKind, len: usize) -> u64 {
        let room = (RW_PAGES * PAGE).saturating_sub(len);
        let a = match kind {
            PtrKind::Good => self.rw + (rng.below(room as u64 + 1) as usize & !7),
            PtrKind::Misaligned => self.rw + (rng.below(room as u64 + 1) as usize | 1).min(room),
            PtrKind::Straddle => self.guard() - 1 - rng.below(len.clamp(1, PAGE) as u64) as usize,
            PtrKind::ReadOnly => self.ro + rng.below(PAGE.saturating_sub(len) as u64 + 1) as usize,
            PtrKind::Null => 0,
            PtrKind::Low => 1 + rng.below(0xffff) as usize,
            PtrKind::Unmapped => self.none + rng.below(PAGE as u64) as usize,
            // TASK_SIZE on x86_64 (4-level paging) is 0x7fff_ffff_f000.
            PtrKind::TopOfUser => 0x7fff_ffff_f000 + rng.below(PAGE as u64) as usize,
            PtrKind::Kernel => {
                let r = rng.u64();
                return rng.pick(&[
                    0xffff_8880_0000_0000 + (r & 0xfff_fff8),
                    0xffff_ffff_8100_0000,
                    0xffff_ffff_ffff_f000,
                    u64::MAX,
                ]);
            }
            PtrKind::NonCanonical => {
                let r = rng.u64();
                return rng.pick(&[
                    0x0000_8000_0000_0000 | (r & 0x7fff_ffff_ffff),
                    0x8000_0000_0000_0000,
                    0x0000_7fff_ffff_f000,
                ]);
            }
        };
        a as u64
    }

    /// A random kind (mostly good ones) and an address of it.
    pub fn ptr(&self, rng: &mut Rng, len: usize) -> (u64, PtrKind) {
        let kind = match rng.below(10) {
            0..=5 => PtrKind::Good,
            6 => rng.pick(&[PtrKind::Misaligned, PtrKind::Straddle, PtrKind::ReadOnly]),
            _ => rng.pick(&FAULTING),
        };
        (self.ptr_of(rng, kind, len), kind)
    }

    /// The part of `[addr, addr + len)` inside the scratch area: (start, length).
    fn clip(&self, addr: u64, len: usize) -> (usize, usize) {
        let a = (addr as usize).clamp(self.rw, self.guard());
        let b = (addr as usize)
            .saturating_add(len)
            .clamp(self.rw, self.guard());
        (a, b - a)
    }

    /// Writes the part of `bytes` (meant for `addr`) that lies in the scratch area.
    pub fn fill(&self, addr: u64, bytes: &[u8]) {
        let (a, n) = self.clip(addr, bytes.len());
        if n > 0 {
            let skip = a - addr as usize;
            // SAFETY: `clip` kept `[a, a + n)` inside our read-write scratch mapping, and
            // `skip + n <= bytes.len()`.
            unsafe { std::ptr::copy_nonoverlapping(bytes[skip..].as_ptr(), a as *mut u8, n) };
        }
    }

    /// The bytes of `[addr, addr + len)` that lie in the scratch area.
    pub fn read_clipped(&self, addr: u64, len: usize) -> Vec<u8> {
        let (a, n) = self.clip(addr, len);
        let mut v = vec![0u8; n];
        // SAFETY: `clip` kept the range inside our scratch mapping, which is readable.
        unsafe { std::ptr::copy_nonoverlapping(a as *const u8, v.as_mut_ptr(), n) };
        v
    }

    /// Copies what lies in the scratch area of `[addr, addr + len)` to the same place in
    /// `other` (an arena of the same layout).
    pub fn sync_to(&self, other: &Arena, addr: u64, len: usize) {
        let (a, n) = self.clip(addr, len);
        let b = other.rw + (a - self.rw);
        // SAFETY: `[a, a + n)` lies in our scratch area and `[b, b + n)` at the same offset in
        // `other`'s, which has the same size; the two mappings are distinct.
        unsafe { std::ptr::copy_nonoverlapping(a as *const u8, b as *mut u8, n) };
    }

    /// The same place in `other` (another arena of the same layout) for an address made by
    /// this one; addresses outside both stay as they are.
    pub fn translate(&self, other: &Arena, addr: u64) -> u64 {
        let a = addr as usize;
        let map = |from: usize, to: usize, len: usize| {
            (from..from + len).contains(&a).then(|| to + (a - from))
        };
        map(self.rw, other.rw, (RW_PAGES + 1) * PAGE)
            .or_else(|| map(self.ro, other.ro, PAGE))
            .or_else(|| map(self.none, other.none, PAGE))
            .map_or(addr, |x| x as u64)
    }

    /// Reads `len` bytes at `addr` if they all lie in the scratch area.
    pub fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let a = addr as usize;
        if a < self.rw || a.saturating_add(len) > self.guard() {
            return None;
        }
        let mut v = vec![0u8; len];
        // SAFETY: the range lies inside our scratch mapping, which is readable.
        unsafe { std::ptr::copy_nonoverlapping(a as *const u8, v.as_mut_ptr(), len) };
        Some(v)
    }

    /// Random bytes at `addr` (within the scratch area only).
    pub fn scribble(&self, rng: &mut Rng, addr: u64, len: usize) {
        let v: Vec<u8> = (0..len).map(|_| rng.u32() as u8).collect();
        self.fill(addr, &v);
    }
}

/// A random value with a bias towards edges: 0, ±1, powers of two, extremes.
pub fn edgy(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => rng.pick(&[0, 1, u64::MAX, i64::MAX as u64, i64::MIN as u64]),
        1 => 1u64 << rng.below(64),
        2 => (1u64 << rng.below(64)).wrapping_sub(1),
        3 => rng.below(256),
        4 => (rng.below(256) as i64).wrapping_neg() as u64,
        _ => rng.u64(),
    }
}
