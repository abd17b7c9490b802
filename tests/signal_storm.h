/* SPDX-License-Identifier: MIT */
/*
 * A storm of SIGUSR1 at one thread, to check that code which signals
 * interrupt (EINTR, fallocate stopping for any pending signal) still
 * finishes. The handler is installed without SA_RESTART and counts what it
 * catches. One storm at a time per process.
 */
#ifndef MEMVMM_TEST_SIGNAL_STORM_H
#define MEMVMM_TEST_SIGNAL_STORM_H

/* Catch SIGUSR1 with the counting handler (no SA_RESTART). */
void signal_storm_install(void);
/* Put SIGUSR1 back to SIG_DFL. */
void signal_storm_uninstall(void);
/* Signals caught since the last signal_storm_reset(). */
unsigned int signal_storm_hits(void);
void signal_storm_reset(void);
/* Send SIGUSR1 to the calling thread every interval_ns from a new thread... */
void signal_storm_start(long interval_ns);
/*
 * The interval to storm with: min_ns, or 20 times what one page's fallocate
 * takes on this host if that is longer (a slow, e.g. emulated, host), so that
 * the code under test can still make progress between two signals.
 */
long signal_storm_interval(long min_ns);
/* ...until this stops and joins it. */
void signal_storm_stop(void);

#endif
