"""What a model is on disk: the saved config (TrainConfig), checkpoint reading and writing, the model card.
Training, the judges, the metrics and the services all read and write models through here."""
