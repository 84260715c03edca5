"""The running example every stage automates: a ride-hailing app predicting whether a driver completes a booking.
Its schema, its data sources (fake for dev, a warehouse for staging and prod), batch validation, the serving
bundle a model ships as, and the MLflow experiment it is tracked in."""
