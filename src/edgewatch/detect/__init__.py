"""Detections at the edge: rules, threat intelligence, Sigma, alerts (see ``engine``)."""
