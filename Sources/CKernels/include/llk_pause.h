// A spin-wait hint (x86 PAUSE / arm YIELD) for the thread pool's busy-wait loops.
#ifndef LLMKIT_PAUSE_H
#define LLMKIT_PAUSE_H
void llk_pause(void);
#endif
