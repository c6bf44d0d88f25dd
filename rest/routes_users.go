package rest

var userRoutes = []Route{}
