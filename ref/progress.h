/*
 * progress.h - a one-line progress display on stderr for long loops (training,
 * evaluation): "label  it 120/800  15%  <text>  2.1 it/s  ETA 5m23s".
 *
 * On a terminal the line is redrawn in place (carriage return) at most a few
 * times a second; otherwise (a log file, a pipe) one line is printed every
 * `every` iterations so logs stay short. Timing uses the monotonic clock and
 * never feeds any result.
 */
#ifndef LSD_PROGRESS_H
#define LSD_PROGRESS_H

#include <stdio.h>

typedef struct {
    FILE *f;          /* stderr by default */
    char label[48];
    long total;       /* iterations of this loop */
    long every;       /* line interval when not a terminal */
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

/* Starts a loop of total iterations. */
void progress_start(lsd_progress *p, const char *label, long total, int quiet);
/* Iteration done (1-based count of completed iterations) with a short text (losses). */
void progress_update(lsd_progress *p, long done, const char *text);
/* Ends the loop: the final line with the elapsed time; returns the elapsed seconds. */
double progress_end(lsd_progress *p, const char *text);

#endif
