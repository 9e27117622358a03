// Clang's thread-safety annotations (-Wthread-safety): which lock guards a
// member, which lock a function needs held or takes. They compile to nothing
// under other compilers; the clang build in CI checks them (tools/dev.sh).
// Use them with util/mutex.h: std::mutex carries no annotations in
// libstdc++, so the analysis cannot see through it.
#pragma once

#if defined(__clang__)
#define REEL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define REEL_THREAD_ANNOTATION(x)
#endif

// A type that is a lock.
#define CAPABILITY(name) REEL_THREAD_ANNOTATION(capability(name))
// An RAII type that holds a lock for its lifetime.
#define SCOPED_CAPABILITY REEL_THREAD_ANNOTATION(scoped_lockable)
// A member read or written only with `mu` held.
#define GUARDED_BY(mu) REEL_THREAD_ANNOTATION(guarded_by(mu))
// A pointer member whose pointee is used only with `mu` held.
#define PT_GUARDED_BY(mu) REEL_THREAD_ANNOTATION(pt_guarded_by(mu))
// The caller holds these locks (and still holds them on return).
#define REQUIRES(...) REEL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
// The caller does not hold these locks (the function takes them).
#define EXCLUDES(...) REEL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// The function takes / releases these locks (no argument: the object itself).
#define ACQUIRE(...) REEL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) REEL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
// The function takes the lock when it returns `result`.
#define TRY_ACQUIRE(...) REEL_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// Turns the analysis off for one function; say why beside it.
#define NO_THREAD_SAFETY_ANALYSIS REEL_THREAD_ANNOTATION(no_thread_safety_analysis)
