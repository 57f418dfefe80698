//! Helpers shared by the integration tests.

/// `n` normally, `miri` under Miri, where every step is far slower: stress
/// loops keep their shape and shrink their size.
pub fn scaled<T>(n: T, miri: T) -> T {
    if cfg!(miri) {
        miri
    } else {
        n
    }
}
