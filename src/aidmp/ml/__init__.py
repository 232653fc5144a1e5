"""Machine-learning models over aidmp profiles: propensity, churn and their explanations."""
