"""Docker through its SDK: the locally made base image, builds with their logs, cleanup, and running a container
until it is healthy. Every stage that builds or runs an image uses these; the images themselves are the stages'."""
