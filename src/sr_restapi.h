/*
 * sr_restapi.h — the REST API for applications outside any hub (PHP, cron jobs, curl), with
 * the paths, verbs and status codes of Azure SignalR Service's data-plane REST API.
 */
#ifndef SR_RESTAPI_H
#define SR_RESTAPI_H

/** Registers the API's endpoint when an API key is configured. Call before the workers start. */
int sr_restapi_init(void);

#endif
