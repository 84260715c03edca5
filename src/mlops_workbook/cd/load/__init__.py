"""Load on a running API: steady users during a deploy (traffic), a bounded load test with Locust (loadtest,
locustfile)."""
