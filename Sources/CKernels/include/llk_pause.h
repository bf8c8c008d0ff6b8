// Thread helpers for the thread pool: a spin-wait hint (x86 PAUSE / arm YIELD) for its busy-wait loops, and
// naming the calling OS thread (what top, perf and /proc/PID/task/*/comm show).
#ifndef LLMKIT_PAUSE_H
#define LLMKIT_PAUSE_H
void llk_pause(void);
/// Names the calling thread (Linux keeps the first 15 bytes).
void llk_set_thread_name(const char *name);
#endif
