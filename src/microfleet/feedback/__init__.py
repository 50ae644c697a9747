"""Human feedback: answers kept so people can rate them, and ratings turned into training pairs."""
