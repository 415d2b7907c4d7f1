"""Drop-in package under the product name (model connector); see ossconnector.model."""
