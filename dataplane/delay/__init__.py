"""Link delay and loss in user space: a timed queue per link direction, served by one process."""
