"""Step functions: plain and pure, data in, data out. They never see config, cluster or store."""
