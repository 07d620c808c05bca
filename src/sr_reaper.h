/*
 * sr_reaper.h — removes connections whose client is gone and runs their disconnect hooks, and
 * prunes old records from the message log. Runs on the loop thread of every worker; the SQL
 * makes each removal happen exactly once whichever worker gets there first.
 */
#ifndef SR_REAPER_H
#define SR_REAPER_H

/** Does whatever is due (at most one pass per second). */
void sr_reaper_tick(double now);

#endif
