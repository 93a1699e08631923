/* m4_bench_hooks.h: force-included (-include) into kws_frontend.c by the stage-breakdown build
 * of benchmarks/bench_c_frontend.py; KWS_FRONTEND_MARK(stage) then reads SysTick. */
#ifndef KWS_M4_BENCH_HOOKS_H
#define KWS_M4_BENCH_HOOKS_H
void kws_bench_mark(int stage);
#define KWS_FRONTEND_MARK(stage) kws_bench_mark(stage)
#endif
