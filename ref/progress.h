/*
 * progress.h - the one-line progress display on stderr of every long loop (demo,
 * train, eval): "label  it 120/800  15%  <text>  2.1 it/s  ETA 5m23s".
 *
 * On a terminal the line is redrawn in place (carriage return) at most a few
 * times a second; otherwise (a log file, a pipe) one line is printed after the
 * first, every `every`-th and the last iteration so logs stay short. Timing uses the monotonic clock and
 * never feeds any result.
 */
#ifndef LSD_PROGRESS_H
#define LSD_PROGRESS_H

#include <stdio.h>

typedef struct {
    FILE *f;          /* stderr by default */
    char label[48];
    long total;       /* iterations of this loop */
    long start;       /* iterations done before this run (a resumed training); 0 by default */
    long every;       /* line interval when not a terminal (total / 10 by default) */
    int tty;          /* redraw in place */
    int quiet;        /* print nothing */
    double t0, last;  /* start and last redraw (seconds, monotonic) */
    double extra_s;   /* estimated seconds of work after this loop (overall ETA) */
    int width;        /* length of the last line drawn (to blank it) */
} lsd_progress;

/* Seconds on the monotonic clock. */
double lsd_now(void);
/* Formats seconds as "42s", "5m03s" or "1h02m" into buf (at least 16 bytes). */
const char *lsd_fmt_duration(char *buf, double s);

/* Starts a loop of total iterations. start, every and extra_s may be set after it. */
void progress_start(lsd_progress *p, const char *label, long total, int quiet);
/* Iteration done (1-based count of completed iterations, start included) with a short text
 * (losses); speed and ETA count from start. */
void progress_update(lsd_progress *p, long done, const char *text);
/* Ends a line left open in place on a terminal, so that other messages start on their own
 * line (the next update draws a new one). */
void progress_break(lsd_progress *p);
/* Ends the loop: the final line with the elapsed time; returns the elapsed seconds. */
double progress_end(lsd_progress *p, const char *text);

#endif
